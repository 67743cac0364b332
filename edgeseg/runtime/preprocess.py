"""The one preprocessing every path uses (training, export calibration, runtime, eval).

RGB uint8 HxWx3 -> resize to the network input -> float32 (x/255 - mean)/std -> 1x3xHxW.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_rgb(rgb: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize to (H, W) with area averaging when shrinking, bilinear otherwise."""
    h, w = size_hw
    if rgb.shape[:2] == (h, w):
        return rgb
    interp = cv2.INTER_AREA if h < rgb.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(rgb, (w, h), interpolation=interp)


def normalize(rgb: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW float32 normalised."""
    x = rgb.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(mean, np.float32)
    x /= np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess(rgb: np.ndarray, size_hw: tuple[int, int], mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xHxW float32 network input at ``size_hw``."""
    return normalize(resize_rgb(rgb, size_hw), mean, std)[None]
