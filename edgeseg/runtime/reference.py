"""NumPy reference implementations of the runtime's propagation kernels.

These define the semantics the C kernels must reproduce exactly; training uses them too, so the video
heads learn on maps propagated exactly as the runtime propagates them.

Flow convention: ``flow`` is HxWx2 float32 (dx, dy) at full resolution, the backward flow t -> t-1
(what ``DIS.calc(gray_t, gray_{t-1})`` returns). A map at 1/s of the flow's resolution is warped by
sampling, for each of its pixels, the flow at the nearest full-resolution pixel to its centre, dividing
it by s, and reading the source map at the nearest pixel, clamped to the border. Non-finite flow
components count as 0 (stay in place); huge values are clamped to the border.
"""

from __future__ import annotations

import numpy as np


def source_index(flow: np.ndarray, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """For a map of size ``out_hw`` at 1/s of ``flow``'s size, the (row, col) it samples per pixel."""
    fh, fw = flow.shape[:2]
    h, w = out_hw
    sy, sx = fh / h, fw / w
    # Nearest full-resolution pixel to each map pixel's centre.
    fy = np.minimum(np.floor((np.arange(h) + 0.5) * sy).astype(np.int64), fh - 1)
    fx = np.minimum(np.floor((np.arange(w) + 0.5) * sx).astype(np.int64), fw - 1)
    f = flow[fy[:, None], fx[None, :]].astype(np.float32)
    dx = np.where(np.isfinite(f[..., 0]), f[..., 0], np.float32(0)) / np.float32(sx)
    dy = np.where(np.isfinite(f[..., 1]), f[..., 1], np.float32(0)) / np.float32(sy)
    # Clamp before rounding so huge values cannot overflow the integer conversion.
    px = np.clip(np.arange(w, dtype=np.float32)[None, :] + dx, 0, w - 1)
    py = np.clip(np.arange(h, dtype=np.float32)[:, None] + dy, 0, h - 1)
    return np.floor(py + 0.5).astype(np.int64), np.floor(px + 0.5).astype(np.int64)


def warp_nearest(maps: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp ``maps`` (HxW or CxHxW, any dtype) with the full-resolution ``flow``."""
    rows, cols = source_index(flow, maps.shape[-2:])
    return maps[..., rows, cols]
