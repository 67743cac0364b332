"""One worker of ``edgeseg batch``: the bundle's engines loaded once, then whole videos, one after another, each
start to end through the one frame loop (a ``Session`` in sync mode, as ``edgeseg run`` on a file).

The same class runs in this process (``--workers 1`` without ``--address``) and as a Ray Data actor (its
``__call__`` takes a batch of video rows). Every attempt at a video is counted in ``DIR/.<key>.attempts`` before it
starts, so a video whose worker is killed is retried ``retries`` times at most, whoever restarts it (Ray retries
an actor's work forever by default), and then fails as a row of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.batching.inputs import Video, is_remote, shown
from edgeseg.batching.outputs import CountingSink, label_sink, new_temp, publish
from edgeseg.bundle import MANIFEST, load_bundle, sha256_file
from edgeseg.errors import EdgesegError
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.engines.thread_budget import ThreadBudget
from edgeseg.runtime.io.sources import open_source
from edgeseg.runtime.operating_point import OperatingPoint
from edgeseg.runtime.pipeline.core import GivenLabels, Pipeline
from edgeseg.runtime.pipeline.session import Session, Stream

TASKS = ("segment", "propagate")
ROW_FIELDS = ("video", "key", "status", "frames", "keyframes", "fps", "seconds", "attempts", "error", "output")


@dataclass(frozen=True)
class Settings:
    """What every video of a batch is processed with (sent to each worker once)."""

    bundle: str
    op: OperatingPoint
    task: str = "segment"
    fmt: str = "png"
    out: str = "batch-out"
    backend: str = "onnxrt"
    cpus: float = 1.0  # this worker's share of the machine: its engine, flow and kernel threads
    retries: int = 2
    bundle_digest: str = ""


def bundle_digest(bundle_dir: str | Path) -> str:
    """What identifies a bundle's content: its manifest's sha256 (which lists every graph's)."""
    return sha256_file(Path(bundle_dir) / MANIFEST)


def job_key(video: Video, s: Settings) -> str:
    """The identity of one video's output: its content (URI, size, mtime, labels) and how it is processed (bundle,
    operating point, task, format). A marker with another key is stale and the video is done again."""
    what = {"video": [video.uri, video.size, video.mtime_ns, video.labels], "bundle": s.bundle_digest,
            "op": asdict(s.op), "task": s.task, "format": s.fmt}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def row(video: Video, status: str, **fields: Any) -> dict[str, Any]:
    """One line of the batch's table (the same fields for every status)."""
    base = {"video": shown(video.uri), "key": video.key, "status": status, "frames": 0, "keyframes": 0, "fps": None,
            "seconds": 0.0, "attempts": 0, "error": None, "output": None}
    return {**base, **fields}


class VideoWorker:
    """Processes videos with one EngineSet (the bundle's graphs opened once for all of them)."""

    def __init__(self, settings: Settings):
        import cv2
        self.s = settings
        threads = max(1, int(settings.cpus))
        cv2.setNumThreads(threads)
        self.bundle = load_bundle(settings.bundle)
        self.budget = ThreadBudget(engine=threads, engine_spinning=False, flow=min(2, threads), kernels=threads)
        self.engines = EngineSet(self.bundle, settings.backend, threads, spinning=False)
        self.out = Path(settings.out)
        names = self.bundle.manifest.classes
        self.names, self.fill = list(names.names), names.ignore_id if names.ignore_id is not None else 255

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        """Ray Data's entry: a batch of video rows (columns) -> their result rows (columns)."""
        videos = [Video(**{k: _plain(batch[k][i]) for k in Video.__dataclass_fields__}) for i in range(len(batch["uri"]))]
        rows = [self.process(v) for v in videos]
        return {k: [r[k] for r in rows] for k in ROW_FIELDS}

    def process(self, video: Video) -> dict[str, Any]:
        """Segment (or propagate labels through) one video into its output folder; never raises for a bad video."""
        if video.error:
            return row(video, "failed", error=video.error)
        attempt = self._count_attempt(video.key)
        if attempt > self.s.retries + 1:
            self._attempts(video.key).unlink(missing_ok=True)  # reported: a later run may try it afresh
            return row(video, "failed", attempts=attempt - 1,
                       error=f"its worker died on each of {attempt - 1} attempts (--retries {self.s.retries})")
        t = time.perf_counter()
        tmp = new_temp(self.out, video.key)
        try:
            stats = self._run(video, tmp)
            stats.update(attempts=attempt, seconds=round(time.perf_counter() - t, 3), job_key=job_key(video, self.s))
            final = publish(tmp, self.out, video.key, stats)
        except EdgesegError as exc:
            return self._failed(video, tmp, attempt, t, str(exc))
        except Exception as exc:  # a bug on one video must not end the batch; the row says where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return self._failed(video, tmp, attempt, t, f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
        self._attempts(video.key).unlink(missing_ok=True)  # it came back: only a dead worker leaves its count
        return row(video, "ok", frames=stats["frames"], keyframes=stats["keyframes_all"], fps=stats["fps"],
                   seconds=stats["seconds"], attempts=attempt, output=str(final))

    def _failed(self, video: Video, tmp: Path, attempt: int, t: float, error: str) -> dict[str, Any]:
        shutil.rmtree(tmp, ignore_errors=True)
        self._attempts(video.key).unlink(missing_ok=True)
        return row(video, "failed", attempts=attempt, seconds=round(time.perf_counter() - t, 3), error=error)

    def _run(self, video: Video, tmp: Path) -> dict[str, Any]:
        local = _fetch(video.uri, tmp) if is_remote(video.uri) else video.uri
        given = self._labels(video, local) if self.s.task == "propagate" else {}
        source = open_source(local)
        sink = None
        try:
            sink = CountingSink(label_sink(self.s.fmt, tmp))
            if self.s.task == "propagate":
                pipe: Pipeline = GivenLabels(self.bundle, given, self.fill, self.s.op, engines=self.engines,
                                             threads=self.budget)
            else:
                pipe = Pipeline(self.bundle, self.s.op, engines=self.engines, threads=self.budget)
        except BaseException:
            source.close()
            if sink is not None:
                sink.close()
            raise
        keys = []  # every keyframe, warm-up included (the stats' "keyframes" leave the warm-up out)
        try:
            session = Session([Stream(video.key, source, pipe, sink)], mode="sync", owns_pipelines=False)
            for tick in session.ticks():
                keys.append(tick.frames[0].output.keyframe)
        finally:
            pipe.close()
            if local != video.uri:  # a remote video's local copy is not part of the output
                Path(local).unlink(missing_ok=True)
        result = session.result()
        if result.failed or result.end not in ("end_of_stream",):
            raise EdgesegError(f"{shown(video.uri)}: {result.error or result.end}")
        if not keys:
            raise EdgesegError(f"{shown(video.uri)}: no frame could be decoded")
        s = result.stats
        return {"video": shown(video.uri), "task": self.s.task, "profile": self.s.op.name, "format": self.s.fmt,
                "frames": s["frames"], "keyframes_all": int(sum(keys)), "keyframes": s["keyframes"], "fps": s["fps"],
                "stage_ms": s["stage_ms"], "frame_size": list(sink.frame_size or ()),
                "class_fractions": sink.fractions(self.names), "labelled_frames": len(given),
                "error": None}

    def _labels(self, video: Video, local: str) -> dict[int, np.ndarray]:
        """The given labels by frame index: a video's frames are NNNNNN (their number), a folder's its images' stems."""
        import cv2

        from edgeseg.data.folders import list_images
        if not video.labels or not Path(video.labels).is_dir():
            raise EdgesegError(f"{shown(video.uri)}: --task propagate needs a label folder for it (the manifest's "
                               f"'labels' column); got {video.labels!r}")
        folder = Path(local)
        order = {p.stem: i for i, p in enumerate(list_images(folder))} if folder.is_dir() else None
        given = {}
        for path in sorted(Path(video.labels).glob("*.png")):
            index = order.get(path.stem) if order is not None else (int(path.stem) if path.stem.isdigit() else None)
            if index is None:
                continue  # a label for no frame of this video
            labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if labels is None or labels.ndim != 2 or labels.dtype != np.uint8:
                raise EdgesegError(f"{path}: not an 8-bit single-channel label PNG")
            given[index] = labels
        if not given:
            raise EdgesegError(f"{shown(video.uri)}: none of the PNGs in {video.labels} names one of its frames "
                               "(a video's frames are 000000.png, 000001.png...; a folder's, its images' names)")
        return given

    def _attempts(self, key: str) -> Path:
        """Where the attempts at ``key`` are counted (one line each: the worker's PID); removed when one returns."""
        return self.out / f".{key}.attempts"

    def _count_attempt(self, key: str) -> int:
        path = self._attempts(key)
        with open(path, "a") as f:
            f.write(f"{os.getpid()}\n")
        return len(path.read_text().splitlines())

    def close(self) -> None:
        self.engines.close()


def _plain(value: Any) -> Any:
    """A value of a Ray batch as the Python value it was: numpy scalars unwrapped, a missing one (NaN) None."""
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and value != value else value


def _fetch(uri: str, tmp: Path) -> str:
    """A remote video copied into the video's temporary folder (removed with it)."""
    import fsspec
    local = tmp / ("source" + Path(uri.split("?")[0]).suffix)
    try:
        with fsspec.open(uri, "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, ValueError) as exc:
        raise EdgesegError(f"cannot read {shown(uri)}: {exc}") from None
    return str(local)
