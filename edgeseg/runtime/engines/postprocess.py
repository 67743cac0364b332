"""Scores -> labels at the frame's resolution."""

from __future__ import annotations

import numpy as np

from edgeseg.runtime.motion import kernels


def upsample_argmax(logits: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """CxhxW scores -> HxW uint8 labels, bilinear upsampling of the scores before argmax (fused C kernel)."""
    return kernels.upsample_argmax(logits, size_hw)
