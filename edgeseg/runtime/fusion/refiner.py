"""EVS Refiner: re-predicts a propagated frame from the image and the keyframe's warped features and
probabilities; the pipeline blends it in where the IAM mask is set (EVS eq. 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeseg.runtime.fusion.spec import HeadSpec, register_head


@dataclass(frozen=True)
class RefinerSpec(HeadSpec):
    def input_names(self, module: Any) -> list[str]:
        """A refiner built with ``feat_channels=0`` (for backbones without features) takes no ``warped_feats``."""
        return [n for n in self.inputs if n != "warped_feats" or getattr(module, "feat_channels", 1)]


SPEC = register_head(RefinerSpec("refiner", inputs=("image", "warped_feats", "warped_probs"), outputs=("logits",),
                                 summary="EVS IAM + Refiner on propagated frames, for profiles with refine: true"))


def feed(image: np.ndarray, warped_feats: np.ndarray | None, warped_probs: np.ndarray) -> dict[str, np.ndarray]:
    """The refiner's inputs: the frame at network size (1x3xHxW), features (CxH/8xW/8, None for a backbone without
    them) and probabilities (LxH/4xW/4)."""
    out = {"image": image, "warped_probs": warped_probs[None]}
    if warped_feats is not None:
        out["warped_feats"] = warped_feats[None]
    return out
