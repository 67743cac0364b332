"""Scores -> labels at the frame's resolution."""

from __future__ import annotations

import cv2
import numpy as np


def upsample_argmax(logits: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """CxhxW scores -> HxW uint8 labels, bilinear upsampling of the scores before argmax."""
    h, w = size_hw
    up = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in logits])
    return up.argmax(0).astype(np.uint8)
