"""NumPy reference implementations of the runtime's propagation kernels.

These define the semantics the C kernels must reproduce exactly; training uses them too, so the video
heads learn on maps propagated exactly as the runtime propagates them.

Flow convention: ``flow`` is HxWx2 float32 (dx, dy) at full resolution, the backward flow t -> t-1
(what ``DIS.calc(gray_t, gray_{t-1})`` returns). A map at 1/s of the flow's resolution is warped by
sampling, for each of its pixels, the flow at the nearest full-resolution pixel to its centre, dividing
it by s, and reading the source map at the nearest pixel, clamped to the border. Non-finite flow
components count as 0 (stay in place); huge values are clamped to the border. A coarse flow (DIS's flow at its
finest pyramid scale, ``edgeseg.runtime.motion.flow.CoarseFlow``) means the full-resolution flow ``upsample_flow`` makes.
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


def linear_taps(n_in: int, n_out: int, clamp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR taps along one axis (cv::resize's generic path): source indices (i0, i1) and float32
    weights (w0, w1). f = float32((i + 0.5) * scale - 0.5) with scale = 1 / (n_out / n_in), s = floor(f), f -= s;
    with ``clamp`` (OpenCV's horizontal pass) a tap outside the source moves onto the border pixel with weight 1,
    without it (the vertical pass) the weights stay and only the indices are clamped."""
    f = ((np.arange(n_out, dtype=np.float64) + 0.5) * (1.0 / (n_out / n_in)) - 0.5).astype(np.float32)
    s = np.floor(f)
    f = f - s
    s = s.astype(np.int64)
    if clamp:
        outside = (s < 0) | (s >= n_in - 1)
        f[outside] = 0
        s = np.where(s < 0, 0, np.where(s >= n_in - 1, n_in - 1, s))
    return np.clip(s, 0, n_in - 1), np.clip(s + 1, 0, n_in - 1), (np.float32(1) - f).astype(np.float32), f


def upsample_flow(grid: np.ndarray, size_hw: tuple[int, int], factor: float) -> np.ndarray:
    """The full-resolution flow a coarse flow stands for: ``factor`` x its bilinear resize to ``size_hw``, in
    cv2.resize's float order (each row horizontally, then two rows vertically; no fused multiply-adds). DIS makes
    its output this way from its finest pyramid scale, so this equals ``DIS.calc`` where OpenCV's resize does not
    fuse multiply-adds (x86; its NEON code on aarch64 does, which can move a value by an ulp)."""
    grid = np.asarray(grid, np.float32)
    x0, x1, a0, a1 = linear_taps(grid.shape[1], size_hw[1], clamp=True)
    y0, y1, b0, b1 = linear_taps(grid.shape[0], size_hw[0], clamp=False)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite values count as 0 where they are read
        rows = grid[:, x0] * a0[None, :, None] + grid[:, x1] * a1[None, :, None]
        return (rows[y0] * b0[:, None, None] + rows[y1] * b1[:, None, None]) * np.float32(factor)


def warp_nearest(maps: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward-warp ``maps`` (HxW or CxHxW, any dtype) with the full-resolution ``flow``."""
    rows, cols = source_index(flow, maps.shape[-2:])
    return maps[..., rows, cols]


def iam_inconsistency(labels_f: np.ndarray, flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """EVS eq. 3: M = [L_F != L_BF] (uint8 0/1), L_BF = L_F taken back to t-1 by the forward flow, then
    brought forward again by the backward flow."""
    labels_b = warp_nearest(labels_f, flow_fwd)
    return (labels_f != warp_nearest(labels_b, flow_back)).astype(np.uint8)


def blend_argmax(mask: np.ndarray, p_refined: np.ndarray, p_warped: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EVS eq. 4 where M > 0: argmax_l M*P_ref + (1-M)*P_warp at the nearest low-resolution pixel; elsewhere
    ``labels`` unchanged (there M = 0 gives exactly the warped labels)."""
    H, W = mask.shape
    _, h, w = p_refined.shape
    ry = np.minimum(np.floor((np.arange(H) + 0.5) / (H / h)).astype(np.int64), h - 1)
    rx = np.minimum(np.floor((np.arange(W) + 0.5) / (W / w)).astype(np.int64), w - 1)
    out = labels.copy()
    ys, xs = np.nonzero(mask > 0)
    m = mask[ys, xs].astype(np.float32)
    pr = p_refined[:, ry[ys], rx[xs]].astype(np.float32)
    pw = p_warped[:, ry[ys], rx[xs]].astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf * 0 in a broken model's scores: NaN, handled by first_max_index
        out[ys, xs] = first_max_index(m * pr + (np.float32(1) - m) * pw)
    return out


def first_max_index(values: np.ndarray) -> np.ndarray:
    """argmax over axis 0 as the C kernels take it, class by class with ``v > best``: the first maximal class, and a
    NaN never wins after class 0 (NumPy's argmax would pick the first NaN). Non-finite scores come only from a
    broken model, but the C and NumPy paths must still agree on them."""
    best, arg = values[0].copy(), np.zeros(values.shape[1:], np.uint8)
    for k in range(1, values.shape[0]):
        wins = values[k] > best
        best[wins], arg[wins] = values[k][wins], k
    return arg


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: int) -> np.ndarray:
    """(rgb*(256-alpha) + palette[labels]*alpha + 128) >> 8, alpha in 0..256, integer maths."""
    colours = palette[labels].astype(np.uint32)
    return ((rgb.astype(np.uint32) * (256 - alpha) + colours * alpha + 128) >> 8).astype(np.uint8)


def bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and float32 weights (a0, a1) along one axis, half-pixel centres as in
    cv2.resize INTER_LINEAR: s = (i + 0.5) * n_in / n_out - 0.5, clamped to the border."""
    s = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    s = np.clip(s, 0.0, n_in - 1)
    i0 = np.floor(s).astype(np.int32)
    frac = (s - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n_in - 1).astype(np.int32)
    return i0, i1, (np.float32(1) - frac).astype(np.float32), frac


def upsample_argmax(scores: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """CxhxW float32 scores -> HxW uint8 labels: bilinear upsampling, then the first maximal class
    (``first_max_index``)."""
    x0, x1, a0, a1 = bilinear_axis(scores.shape[2], size_hw[1])
    y0, y1, b0, b1 = bilinear_axis(scores.shape[1], size_hw[0])
    with np.errstate(invalid="ignore"):  # inf * 0 in a broken model's scores: NaN, handled by first_max_index
        top = scores[:, y0][:, :, x0] * a0 + scores[:, y0][:, :, x1] * a1
        bottom = scores[:, y1][:, :, x0] * a0 + scores[:, y1][:, :, x1] * a1
        return first_max_index(top * b0[:, None] + bottom * b1[:, None])


def normalize(rgb: np.ndarray, table: np.ndarray, planar: bool, bgr: bool) -> np.ndarray:
    """Output channel k = table[k][input channel k (2 - k if ``bgr``)], as 3xHxW (``planar``) or HxWx3 float32."""
    src = rgb[..., ::-1] if bgr else rgb
    out = np.stack([table[k][src[..., k]] for k in range(3)])
    return out if planar else np.ascontiguousarray(out.transpose(1, 2, 0))
