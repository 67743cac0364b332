"""EVS Refiner: re-predicts a propagated frame from the image and the keyframe's warped features and
probabilities; the pipeline blends it in where the IAM mask is set (EVS eq. 4)."""

from __future__ import annotations

import numpy as np

from edgeseg.runtime.fusion import HeadSpec, register_head

SPEC = register_head(HeadSpec("refiner", inputs=("image", "warped_feats", "warped_probs"), outputs=("logits",),
                              summary="EVS IAM + Refiner on propagated frames, for profiles with refine: true"))


def feed(image: np.ndarray, warped_feats: np.ndarray, warped_probs: np.ndarray) -> dict[str, np.ndarray]:
    """The refiner's inputs: the frame at network size (1x3xHxW), features (CxH/8xW/8) and probabilities (LxH/4xW/4)."""
    return {"image": image, "warped_feats": warped_feats[None], "warped_probs": warped_probs[None]}
