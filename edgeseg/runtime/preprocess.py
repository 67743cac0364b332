"""The one preprocessing every path uses (training, export calibration, runtime, eval).

RGB uint8 HxWx3 -> resize to the network input -> float32 (x/255 - mean)/std -> 1x3xHxW; ``prepare``
applies a bundle's whole ``input`` spec (channel order, scale, layout, dtype) for any model.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from edgeseg.runtime.manifest import RESIZE_LINEAR, InputSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_rgb(rgb: np.ndarray, size_hw: tuple[int, int], linear: bool = False) -> np.ndarray:
    """Resize to (H, W) with area averaging when shrinking, bilinear otherwise (``linear``: bilinear both ways)."""
    h, w = size_hw
    if rgb.shape[:2] == (h, w):
        return rgb
    interp = cv2.INTER_AREA if h < rgb.shape[0] and not linear else cv2.INTER_LINEAR
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


def prepare(rgb: np.ndarray, spec: InputSpec, size_hw: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 RGB -> the network input a bundle's ``input`` spec describes, at ``size_hw`` (batch of 1)."""
    x = resize_rgb(rgb, size_hw, linear=spec.resize == RESIZE_LINEAR)
    if spec.channels == "bgr":
        x = x[..., ::-1]
    if spec.dtype == "uint8":
        out = x
    else:
        out = x.astype(np.float32)
        if spec.scale != 1.0:
            out *= np.float32(1.0 / spec.scale)
        out -= np.asarray(spec.mean, np.float32)
        out /= np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        out = out.transpose(2, 0, 1)
    return np.ascontiguousarray(out[None])
