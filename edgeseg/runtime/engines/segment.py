"""Per-frame segmentation with a bundle's backbone graph (eval, parity mIoU). Torch-free."""

from __future__ import annotations

import numpy as np

from edgeseg.bundle import AUTO, Bundle, graph_key
from edgeseg.bundle.manifest import BundleError
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.engines.registry import Engine, open_engine


class BundleSegmenter:
    """``seg(rgb) -> labels HxW uint8`` running the bundle's backbone at downscale D (``variant``: ONNX Runtime only),
    with the pre- and post-processing its manifest states."""

    def __init__(self, bundle: Bundle, downscale: float = 1.0, graph: str | None = None, variant: str | None = AUTO,
                 backend: str = "onnxrt"):
        key = graph or graph_key("backbone", downscale)
        self.net = NetworkIO(bundle, key)
        self.engine: Engine = open_engine(bundle, key, backend, variant=variant)
        self.size = self.net.size

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.net.labels(self.net.infer(self.engine, rgb), rgb.shape[:2])

    def head_maps(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """What the heads are fed from this frame, as the pipeline feeds them: the scores at 1/4 of the input
        (L x h x w) and the features (None for a backbone without them)."""
        key = self.net.infer(self.engine, rgb)
        if key.scores is None:
            raise BundleError("this bundle's model gives labels only; the heads need class scores")
        return self.net.head_scores(key.scores), key.feats
