"""Optical flow on the CPU: OpenCV's DIS with an operating point's parameters.

``FlowEstimator.backward(gray_t, gray_prev)`` returns the backward flow t -> t-1 at full resolution
(HxWx2 float32), the flow that brings frame t-1's maps into frame t.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgeseg.runtime.operating_point import FlowParams

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


class FlowEstimator:
    """One DIS instance (not thread-safe: use one per worker thread)."""

    def __init__(self, params: FlowParams | None = None):
        self.params = params = params or FlowParams()
        dis = cv2.DISOpticalFlow_create(PRESETS[params.preset])  # type: ignore[attr-defined]
        dis.setFinestScale(params.finest_scale)
        dis.setPatchSize(params.patch_size)
        dis.setPatchStride(max(1, params.patch_size // 2))
        dis.setGradientDescentIterations(params.gd_iterations)
        dis.setVariationalRefinementIterations(params.variational_iterations)
        self.dis = dis

    def backward(self, gray_t: np.ndarray, gray_prev: np.ndarray) -> np.ndarray:
        """Backward flow t -> t-1 (HxWx2 float32, pixels of the input size)."""
        s = self.params.scale
        if s == 1.0:
            return self.dis.calc(gray_t, gray_prev, None)
        h, w = gray_t.shape
        sh, sw = max(8, round(h * s)), max(8, round(w * s))
        small = self.dis.calc(cv2.resize(gray_t, (sw, sh), interpolation=cv2.INTER_AREA),
                              cv2.resize(gray_prev, (sw, sh), interpolation=cv2.INTER_AREA), None)
        flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / sw
        flow[..., 1] *= h / sh
        return flow


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


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
