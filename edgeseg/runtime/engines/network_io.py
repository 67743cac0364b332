"""A backbone graph with its bundle's pre- and post-processing: frame -> feed, outputs -> scores or labels.

Every keyframe path (pipeline, per-frame segmenter, eval) goes through this, so a bundle made from any
model (``edgeseg export FILE.onnx``, an import spec) runs exactly as its manifest says. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from edgeseg.bundle import Bundle
from edgeseg.bundle.manifest import BundleError
from edgeseg.runtime.engines.preprocess import prepare
from edgeseg.runtime.motion.kernels import upsample_argmax

if TYPE_CHECKING:
    from edgeseg.runtime.engines.protocol import Engine

HEAD_STRIDE = 4  # the heads (refiner, fusions) work on scores at 1/4 of the network input, as edgeseg's backbones give them


@dataclass
class KeyOutput:
    """One keyframe's network output: ``scores`` (C x h x w float32) or, for a labels model, ``labels`` (h x w)."""

    scores: np.ndarray | None
    labels: np.ndarray | None
    feats: np.ndarray | None  # C x h x w, edgeseg's own backbones only
    frame_labels: np.ndarray | None = None  # H x W uint8 at the frame's size, where ``keyframe`` made them


class DeviceKeyframes(Protocol):
    """An engine (a GPU backend) that runs a keyframe's pre- and post-processing next to its graph: the frame goes
    up once as uint8 and labels come back as uint8; scores and features only when ``keep`` (refinement and fusion
    heads need them on the host)."""

    def keyframe(self, rgb: np.ndarray, io: NetworkIO, keep: bool) -> KeyOutput | None:
        """The keyframe with ``frame_labels`` set, or None where this engine cannot do it for ``io``."""


class NetworkIO:
    """The manifest's ``input`` and ``output`` specs for the backbone graph ``key`` of ``bundle``."""

    def __init__(self, bundle: Bundle, key: str):
        m = bundle.manifest
        self.input, self.output = m.input, m.output
        if key not in bundle.graphs:
            raise BundleError(f"bundle {bundle.root} has no graph {key!r}")
        entry = bundle.graphs[key]
        shapes = entry.shapes
        if self.input.name not in shapes:
            raise BundleError(f"{bundle.root}: graph {key!r} has no input {self.input.name!r} (manifest input.name); "
                              "re-export the bundle")
        self.size = self.input.hw(shapes[self.input.name])
        self.head_size = (m.input.size[0] // HEAD_STRIDE, m.input.size[1] // HEAD_STRIDE)
        outputs = {o.name for o in entry.outputs}
        if self.output.name not in outputs:
            raise BundleError(f"{bundle.root}: graph {key!r} has no output {self.output.name!r} (manifest output.name); "
                              "re-export the bundle")
        self.features = self.output.features if self.output.features in outputs else None

    def feed(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        return {self.input.name: prepare(rgb, self.input, self.size)}

    def infer(self, engine: Engine, rgb: np.ndarray) -> KeyOutput:
        """Run ``engine`` (this graph) on one frame: the manifest's preprocessing in, ``split`` out."""
        return self.split(engine.infer(self.feed(rgb)))

    def keyframe(self, engine: Engine, rgb: np.ndarray, keep: bool = True) -> KeyOutput:
        """``infer`` plus the labels at the frame's size (``frame_labels``). An engine that does pre- and
        post-processing on its device (``DeviceKeyframes``) does it all there; ``keep`` False lets it leave the
        scores and features there too."""
        device = getattr(engine, "keyframe", None)
        key = device(rgb, self, keep) if device is not None else None
        if key is None:
            key = self.infer(engine, rgb)
            key.frame_labels = self.labels(key, rgb.shape[:2])
        return key

    def split(self, result: dict[str, np.ndarray]) -> KeyOutput:
        """The graph's outputs as scores (or labels) and features, batch axis dropped."""
        out = result[self.output.name]
        feats = result[self.features][0] if self.features else None
        if self.output.kind == "labels":
            return KeyOutput(None, _label_map(out), feats)
        scores = out[0] if self.output.layout == "NCHW" else out[0].transpose(2, 0, 1)
        return KeyOutput(np.ascontiguousarray(scores, dtype=np.float32), None, feats)

    def head_scores(self, scores: np.ndarray) -> np.ndarray:
        """Scores as the heads take them: at 1/4 of the D=1 input. A backbone whose output stride is 4 gives them as
        they are; finer or coarser scores are resized (area when shrinking, bilinear otherwise)."""
        if self.output.stride == HEAD_STRIDE or scores.shape[1:] == self.head_size:
            return scores
        return resize_scores(scores, self.head_size)

    def labels(self, key: KeyOutput, size_hw: tuple[int, int]) -> np.ndarray:
        """HxW uint8 labels at the frame's size: scores upsampled bilinearly then argmax, or labels resized nearest."""
        if key.scores is not None:
            return upsample_argmax(key.scores, size_hw)
        assert key.labels is not None
        return resize_labels(key.labels, size_hw)


def _label_map(out: np.ndarray) -> np.ndarray:
    squeezed = np.squeeze(out)
    if squeezed.ndim != 2:
        raise BundleError(f"a labels output must hold one h x w map, got shape {out.shape}")
    return squeezed


def resize_labels(labels: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """A label map to ``size_hw`` with OpenCV's nearest neighbour (manifest ``upsample`` nearest-cv2), uint8."""
    small = np.ascontiguousarray(labels.astype(np.uint8, copy=False))
    if small.shape == tuple(size_hw):
        return small
    return cv2.resize(small, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_NEAREST)


def resize_scores(scores: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """C x h x w float32 scores to ``size_hw``: OpenCV area averaging when shrinking, bilinear otherwise (channel by channel
    beyond OpenCV's 512-channel limit)."""
    shrink = size_hw[0] < scores.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    if scores.shape[0] > 512:
        return np.stack([cv2.resize(c, (size_hw[1], size_hw[0]), interpolation=interp) for c in scores])
    hwc = np.ascontiguousarray(scores.transpose(1, 2, 0), dtype=np.float32)
    out = cv2.resize(hwc, (size_hw[1], size_hw[0]), interpolation=interp)
    return np.ascontiguousarray(out.reshape(size_hw[0], size_hw[1], -1).transpose(2, 0, 1))
