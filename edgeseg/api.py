"""The Python API: ``Segmenter`` runs a bundle under an operating point on your frames or on any source URI.

    with edgeseg.Segmenter("bundle", profile="evs07") as seg:
        for r in seg.stream("/dev/video0"):      # or: r = seg(frame_rgb)
            show(r.overlay(), r.labels, r.keyframe)

It is the machinery the CLI runs (the same pipeline, engines, kernels), without torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.bundle import Bundle, load_bundle
from edgeseg.errors import UsageError
from edgeseg.profiles.schema import load_profile
from edgeseg.runtime.engines.registry import best_backend
from edgeseg.runtime.io.sinks import render
from edgeseg.runtime.io.sources import open_source
from edgeseg.runtime.operating_point import OperatingPoint
from edgeseg.runtime.pipeline.core import FrameOutput, Pipeline
from edgeseg.runtime.pipeline.session import Session, Stream, rgb_of
from edgeseg.runtime.pipeline.stats import Stats


@dataclass
class Result:
    """One segmented frame."""

    labels: np.ndarray  # HxW uint8 class ids at the frame's size
    keyframe: bool  # segmented by the network (else propagated from the last keyframe)
    index: int  # frame number since the Segmenter was made
    frame: np.ndarray  # the HxWx3 uint8 RGB frame the labels belong to
    colors: np.ndarray  # class id -> RGB, Nx3 uint8
    class_names: list[str]

    def overlay(self, frame: np.ndarray | None = None, alpha: float = 0.5, legend: bool = True) -> np.ndarray:
        """The labels' colours over ``frame`` (default: this result's frame), RGB, with a legend of the classes present."""
        rgb = self.frame if frame is None else frame
        if rgb.shape[:2] != self.labels.shape:
            raise UsageError(f"overlay: frame {rgb.shape[:2]} and labels {self.labels.shape} differ in size")
        return render(np.ascontiguousarray(rgb), self.labels, self.colors, self.class_names if legend else None, alpha)


class Segmenter:
    """A bundle running under an operating point; ``seg(frame_rgb) -> Result``.

    ``bundle``: a bundle folder (``edgeseg export``) or a loaded ``Bundle``. ``profile``: a built-in operating
    point (``edgeseg profiles``), a YAML file or an ``OperatingPoint``. ``backend``: onnxrt, tensorrt or torch
    (default: the best one available here, chosen without loading torch). Frames are processed in order
    (sync mode): every frame you pass is segmented or propagated.
    """

    def __init__(self, bundle: str | Path | Bundle, profile: str | Path | OperatingPoint = "evs07",
                 backend: str | None = None, flow_threads: int = 2):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.backend = backend or best_backend()
        self.flow_threads = flow_threads
        self.colors = np.asarray(self.bundle.manifest.classes.palette, np.uint8)
        self.class_names = list(self.bundle.manifest.classes.names)
        self._pipeline: Pipeline | None = None
        self._stats = Stats(warmup=3)
        self.set_profile(profile)

    @property
    def profile(self) -> OperatingPoint:
        """The operating point in use."""
        return self._open().op

    def _open(self) -> Pipeline:
        if self._pipeline is None:
            raise UsageError("this Segmenter is closed")
        return self._pipeline

    def set_profile(self, profile: str | Path | OperatingPoint) -> None:
        """Switch the operating point between frames; the next frame is a keyframe. Statistics carry on. Setting
        the point already in use changes nothing (no extra keyframe), so it may be called on every frame."""
        op = profile if isinstance(profile, OperatingPoint) else load_profile(profile)
        if self._pipeline is None:
            self._pipeline = Pipeline(self.bundle, op, backend=self.backend, stats=self._stats, flow_threads=self.flow_threads)
        elif op != self._pipeline.op:
            self._pipeline.switch(op)

    def __call__(self, frame_rgb: np.ndarray, name: str = "") -> Result:
        """Segment (or propagate onto) one HxWx3 uint8 RGB frame; frames must come in order."""
        self._stats.read += 1  # a frame handed in is a frame read: processed + dropped = read, as in the CLI
        out: FrameOutput = self._open().process(frame_rgb)
        return Result(out.labels, out.keyframe, out.index, frame_rgb, self.colors, self.class_names)

    def stream(self, source: str, max_frames: int | None = None, reconnect_s: float = 60.0) -> Iterator[Result]:
        """Results for the frames of a source URI (camera, file, folder, rtsp://, csi://, sample://...), in order.

        A live source that stalls is reconnected with back-off for up to ``reconnect_s`` seconds; the stream then ends.
        """
        pipeline = self._open()
        pipeline.reset()  # another clip: its first frame is a keyframe, nothing is carried over from the last one
        # the one frame loop; the Segmenter keeps its pipeline (and statistics) when the stream ends
        session = Session([Stream(source, open_source(source), pipeline)], max_frames=max_frames, reconnect_s=reconnect_s,
                          warmup=None, owns_pipelines=False)
        try:
            for tick in session.ticks():
                done = tick.frames[0]
                yield Result(done.output.labels, done.output.keyframe, done.output.index, rgb_of(done.read), self.colors,
                             self.class_names)
        finally:  # a caller that stops early: the source is closed now, not when the generator is collected
            session.close()
        if session.end == "source_error":
            raise UsageError(f"{source}: {session.error}")

    def stats(self) -> dict[str, Any]:
        """Frames, FPS, latency percentiles and per-stage milliseconds so far (the ``--stats`` fields)."""
        return self._stats.to_json()

    def close(self) -> None:
        """Release the engines and worker threads."""
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
