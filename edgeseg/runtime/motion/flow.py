"""Optical flow on the CPU: OpenCV's DIS with an operating point's parameters.

``FlowEstimator.backward(gray_t, gray_prev)`` returns the backward flow t -> t-1 at full resolution
(HxWx2 float32), the flow that brings frame t-1's maps into frame t. The runtime's own path
(``flow_image`` per frame, then ``between``) gives the same flow without its full-resolution field:
where exact, frames are shrunk once to DIS's finest scale, DIS starts there, and its flow stays a
``CoarseFlow`` that the kernels read as it is.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edgeseg.errors import UsageError
from edgeseg.runtime.motion.coarse_flow import CoarseFlow, Flow, flow_nchw, full_flow, resize_flow  # noqa: F401 (re-exported)
from edgeseg.runtime.operating_point import FlowParams

__all__ = ["PRESETS", "CoarseFlow", "Flow", "FlowEstimator", "flow_nchw", "full_flow", "pyramid_depth", "resize_flow",
           "to_gray"]

PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def _dis(params: FlowParams, finest_scale: int) -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(PRESETS[params.preset])  # type: ignore[attr-defined]
    dis.setFinestScale(finest_scale)
    dis.setPatchSize(params.patch_size)
    dis.setPatchStride(max(1, params.patch_size // 2))
    dis.setGradientDescentIterations(params.gd_iterations)
    dis.setVariationalRefinementIterations(params.variational_iterations)
    return dis


def _calc(dis: cv2.DISOpticalFlow, params: FlowParams, finest_scale: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``dis.calc(a, b)`` started at ``finest_scale``, or at the deepest scale a small frame allows. Left to itself,
    OpenCV picks its own scales for such a frame from its width alone (autoSelectPatchSizeAndScales) and keeps them
    on the instance: the next frames got another flow than a fresh instance gives, and short wide frames (12x40 at
    the default point) got pyramid levels without rows, corrupting the heap (segfaults seen with OpenCV 5.1)."""
    h, w = a.shape[:2]
    patch = params.patch_size
    # where OpenCV's DIS raises (checked over every size up to 69x69); the size test first: log of 0
    depth = -1 if min(h, w) < patch else pyramid_depth(w, h, patch)
    if depth < 0:
        longer = math.floor(4 * patch / 2 ** 1.5) + 1
        at = "" if params.scale == 1.0 else f" (the frame at flow scale {params.scale})"
        raise UsageError(f"DIS optical flow with patch size {patch} cannot run on {w}x{h} images{at}: too small; "
                         f"both sides must be >= {patch} and one >= {longer}")
    if depth >= finest_scale:
        return dis.calc(a, b, None)
    dis.setFinestScale(depth)
    try:
        return dis.calc(a, b, None)
    finally:
        dis.setFinestScale(finest_scale)


def pyramid_depth(w: int, h: int, patch: int) -> int:
    """DIS's coarsest pyramid scale for a w x h image (OpenCV's DISOpticalFlowImpl::calc, same double maths)."""
    return min(int(math.log(max(w, h) / (4.0 * patch)) / math.log(2.0) + 0.5),
               int(math.log(min(w, h) / patch) / math.log(2.0)))


class FlowEstimator:
    """One DIS instance (not thread-safe: use one per worker thread)."""

    def __init__(self, params: FlowParams | None = None):
        self.params = params = params or FlowParams()
        self.dis = _dis(params, params.finest_scale)
        # The same DIS started at its finest scale, for frames shrunk to it beforehand (``flow_image``)
        coarse = params.finest_scale > 0 and params.scale == 1.0
        self._coarse_dis = _dis(params, 0) if coarse else None
        self._coarse_sizes: dict[tuple[int, int], tuple[int, int] | None] = {}

    def backward(self, gray_t: np.ndarray, gray_prev: np.ndarray) -> np.ndarray:
        """Backward flow t -> t-1 (HxWx2 float32, pixels of the input size)."""
        s = self.params.scale
        fs = self.params.finest_scale
        if s == 1.0:
            return _calc(self.dis, self.params, fs, gray_t, gray_prev)
        h, w = gray_t.shape
        sh, sw = max(8, round(h * s)), max(8, round(w * s))
        small = _calc(self.dis, self.params, fs, cv2.resize(gray_t, (sw, sh), interpolation=cv2.INTER_AREA),
                      cv2.resize(gray_prev, (sw, sh), interpolation=cv2.INTER_AREA))
        flow = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / sw
        flow[..., 1] *= h / sh
        return flow

    def coarse_size(self, size_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The size of DIS's finest pyramid scale for frames of ``size_hw`` where DIS run from there on frames shrunk
        beforehand gives exactly its own flow: DIS's first step is that shrink (area resize to 1/2^finest_scale,
        integer sizes) and the levels above follow from it, so the flows are the same when the pyramid has the same
        depth above it. None where that does not hold (tiny frames), or at finest scale 0, or flow on a scaled image."""
        size_hw = (int(size_hw[0]), int(size_hw[1]))
        if size_hw not in self._coarse_sizes:
            self._coarse_sizes[size_hw] = self._find_coarse_size(size_hw)
        return self._coarse_sizes[size_hw]

    def _find_coarse_size(self, size_hw: tuple[int, int]) -> tuple[int, int] | None:
        if self._coarse_dis is None:
            return None
        (h, w), fs, patch = size_hw, self.params.finest_scale, self.params.patch_size
        sh, sw = h >> fs, w >> fs
        if min(sh, sw) < 1:
            return None
        depth = pyramid_depth(w, h, patch)
        return (sh, sw) if depth >= fs and pyramid_depth(sw, sh, patch) == depth - fs else None

    def flow_image(self, gray: np.ndarray) -> np.ndarray:
        """What ``between`` takes for a frame: its gray image shrunk to DIS's finest scale where ``coarse_size``
        allows (each frame shrunk once, not once per flow it is part of), else the gray image itself."""
        small = self.coarse_size(gray.shape[:2])
        return gray if small is None else cv2.resize(gray, (small[1], small[0]), interpolation=cv2.INTER_AREA)

    def between(self, image_t: np.ndarray, image_prev: np.ndarray, size_hw: tuple[int, int]) -> Flow:
        """Backward flow t -> t-1 of two frames of ``size_hw`` from their ``flow_image``s: a ``CoarseFlow`` where they
        were shrunk (its ``full()`` is exactly ``backward`` of the gray frames), else ``backward``'s array."""
        if image_t.shape[:2] == tuple(size_hw) or self._coarse_dis is None:
            return self.backward(image_t, image_prev)
        grid = _calc(self._coarse_dis, self.params, 0, image_t, image_prev)
        return CoarseFlow(grid, (int(size_hw[0]), int(size_hw[1])), float(1 << self.params.finest_scale))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
