"""DIS's flow before its last step, which the kernels read as it is. Torch-free.

DIS computes its flow at its finest pyramid scale (1/4 of the frame with edgeseg's presets) and only then
resizes it to the frame bilinearly and scales the vectors. A ``CoarseFlow`` keeps that small grid; the C warp and
IAM kernels interpolate the full-resolution rows they read in the same float order (kernels.c ``coarse_hrow``), so
the 480x360x2 field is never written, rescaled and read back. ``full()`` gives DIS's own output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np


@dataclass(frozen=True)
class CoarseFlow:
    """``grid`` (h x w x 2 float32, in pixels of that scale) standing for ``factor`` x its bilinear resize to
    ``size`` (H, W): the backward flow at full resolution."""

    grid: np.ndarray
    size: tuple[int, int]
    factor: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """The full-resolution flow's shape (H, W, 2)."""
        return (*self.size, 2)

    def full(self) -> np.ndarray:
        """The H x W x 2 flow exactly as ``DIS.calc`` returns it (its own resize, then the scaling)."""
        h, w = self.size
        out = cv2.resize(self.grid, (w, h), interpolation=cv2.INTER_LINEAR)
        out *= np.float32(self.factor)
        return out


Flow = Union[np.ndarray, CoarseFlow]


def full_flow(flow: Flow) -> np.ndarray:
    """The H x W x 2 flow, whichever form ``flow`` has."""
    return flow.full() if isinstance(flow, CoarseFlow) else flow


def flow_nchw(flow: np.ndarray) -> np.ndarray:
    """HxWx2 flow -> 1x2xHxW float32, the layout of the STGRU / NetWarp graphs' ``flow`` input."""
    return np.ascontiguousarray(flow.transpose(2, 0, 1)[None], dtype=np.float32)


def resize_flow(flow: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """HxWx2 flow -> size_hw, values rescaled with the grid (pixels of the new size)."""
    h, w = flow.shape[:2]
    nh, nw = size_hw
    out = cv2.resize(flow, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= nw / w
    out[..., 1] *= nh / h
    return out
