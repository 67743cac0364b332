"""Per-frame segmentation with a bundle's backbone graph (eval, parity mIoU). Torch-free."""

from __future__ import annotations

import numpy as np

from edgeseg.runtime.backends.onnxrt import OnnxRuntimeEngine
from edgeseg.runtime.bundle import AUTO, Bundle, graph_key
from edgeseg.runtime.engine import Engine, open_engine
from edgeseg.runtime.postprocess import upsample_argmax
from edgeseg.runtime.preprocess import preprocess


class BundleSegmenter:
    """``seg(rgb) -> labels HxW uint8`` running the bundle's backbone at downscale D (``variant``: ONNX Runtime only)."""

    def __init__(self, bundle: Bundle, downscale: float = 1.0, graph: str | None = None, variant: str | None = AUTO,
                 backend: str = "onnxrt"):
        key = graph or graph_key("backbone", downscale)
        self.engine: Engine = (OnnxRuntimeEngine(bundle.graph_path(key, variant=variant)) if backend == "onnxrt"
                               else open_engine(bundle, key, backend))
        shape = bundle.graphs[key].shapes["image"]
        self.size = (int(shape[2]), int(shape[3]))
        self.mean, self.std = bundle.manifest.input.mean, bundle.manifest.input.std

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self.engine.infer({"image": preprocess(rgb, self.size, self.mean, self.std)})
        return upsample_argmax(out["logits"][0], rgb.shape[:2])
