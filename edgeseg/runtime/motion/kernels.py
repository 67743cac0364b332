"""The propagation kernels: C (``_kernels``, built by the install) with NumPy references as the spec.

Each function validates its arguments (shapes, dtypes) and raises ``KernelError`` with the problem,
then runs the C kernel over row bands on ``threads`` threads. If the extension was not built (an
unusual platform), the NumPy reference runs instead and ``BACKEND`` says so (``edgeseg doctor``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from edgeseg.errors import EdgesegError
from edgeseg.runtime.motion import reference
from edgeseg.runtime.motion.coarse_flow import CoarseFlow, Flow

try:
    from edgeseg.runtime.motion import _kernels as _c
    BACKEND = "c"
except ImportError:  # pragma: no cover - exercised only where the extension is missing
    _c = None
    BACKEND = "numpy"
    warnings.warn("the C kernels are not built (no C compiler or Python headers at install time); using the slower "
                  "NumPy reference kernels. For full speed: install gcc and the Python headers, then reinstall edgeseg",
                  RuntimeWarning, stacklevel=2)

DEFAULT_THREADS = min(4, os.cpu_count() or 1)
MAP_DTYPES = (np.uint8, np.float16, np.float32)


class KernelError(EdgesegError):
    """A kernel was given arrays of the wrong shape or type."""


def _flow(flow: np.ndarray) -> np.ndarray:
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.dtype != np.float32 or min(flow.shape[:2]) < 1:
        raise KernelError(f"flow must be float32 HxWx2, got {flow.dtype} {flow.shape}")
    return np.ascontiguousarray(flow)


def _flow_args(flow: Flow) -> tuple[np.ndarray, int, int, float]:
    """(array, full_h, full_w, factor) as the C kernels take a flow: full_h 0 for a full-resolution one."""
    if not isinstance(flow, CoarseFlow):
        return _flow(flow), 0, 0, 1.0
    grid = _flow(flow.grid)
    h, w = flow.size
    if h < grid.shape[0] or w < grid.shape[1] or not 0 < flow.factor < np.inf:
        raise KernelError(f"a coarse flow's grid {grid.shape[:2]} must be no larger than its size {flow.size}, with a "
                          f"positive factor, got {flow.factor}")
    return grid, int(h), int(w), float(flow.factor)


def _full(flow: Flow) -> np.ndarray:
    """The NumPy kernels' full-resolution flow (reference.upsample_flow for a coarse one, as the C kernels read it)."""
    if isinstance(flow, CoarseFlow):
        grid, h, w, factor = _flow_args(flow)
        return reference.upsample_flow(grid, (h, w), factor)
    return _flow(flow)


def warp(maps: Sequence[np.ndarray], flow: Flow, threads: int = DEFAULT_THREADS) -> list[np.ndarray]:
    """Backward-warp maps of one size (HxW or CxHxW; uint8/float16/float32) by the full-resolution flow in one pass.

    Maps may be at 1/1, 1/4, 1/8... of the flow's resolution: flow values are rescaled (reference.py). ``flow``
    may be a ``CoarseFlow``: its full-resolution values are interpolated as they are read.
    """
    flow_arr, full_h, full_w, factor = _flow_args(flow)
    if not maps:
        return []
    hw = maps[0].shape[-2:]
    srcs = []
    for m in maps:
        if m.dtype not in MAP_DTYPES or m.ndim not in (2, 3) or m.shape[-2:] != hw or min(hw) < 1:
            raise KernelError(f"maps must be HxW or CxHxW uint8/float16/float32 of one size {hw}, got {m.dtype} {m.shape}")
        srcs.append(np.ascontiguousarray(m))
    if _c is None:
        full = _full(flow)
        return [reference.warp_nearest(m, full) for m in srcs]
    outs = [np.empty_like(m) for m in srcs]
    channels = [1 if m.ndim == 2 else m.shape[0] for m in srcs]
    for start in range(0, len(srcs), 16):  # the C kernel takes up to 16 maps per pass
        _c.warp(flow_arr, srcs[start:start + 16], outs[start:start + 16], int(hw[0]), int(hw[1]),
                channels[start:start + 16], threads, full_h, full_w, factor)
    return outs


def iam_inconsistency(labels_f: np.ndarray, flow_back: Flow, flow_fwd: Flow,
                      threads: int = DEFAULT_THREADS) -> tuple[np.ndarray, int]:
    """(M uint8 0/1, count): EVS's forward-backward label inconsistency of the warped labels L_F (either flow may
    be a ``CoarseFlow``)."""
    back, fwd = _flow_args(flow_back), _flow_args(flow_fwd)
    if labels_f.dtype != np.uint8 or labels_f.ndim != 2:
        raise KernelError(f"labels must be uint8 HxW, got {labels_f.dtype} {labels_f.shape}")
    if flow_back.shape != flow_fwd.shape:
        raise KernelError(f"backward and forward flows differ in shape: {flow_back.shape} vs {flow_fwd.shape}")
    labels_f = np.ascontiguousarray(labels_f)
    if _c is None:
        mask = reference.iam_inconsistency(labels_f, _full(flow_back), _full(flow_fwd))
        return mask, int(mask.sum())
    mask = np.empty_like(labels_f)
    count = _c.iam(labels_f, back[0], fwd[0], np.empty_like(labels_f), mask, threads, *back[1:], *fwd[1:])
    return mask, int(count)


def blend_argmax(mask: np.ndarray, p_refined: np.ndarray, p_warped: np.ndarray, labels: np.ndarray,
                 threads: int = DEFAULT_THREADS) -> int:
    """In place: where mask > 0, labels = argmax(M*P_ref + (1-M)*P_warp); returns the pixels touched."""
    if mask.dtype != np.float32 or mask.ndim != 2 or labels.dtype != np.uint8 or labels.shape != mask.shape:
        raise KernelError(f"mask must be float32 HxW and labels uint8 of the same shape, got {mask.dtype} {mask.shape}, "
                          f"{labels.dtype} {labels.shape}")
    if p_refined.shape != p_warped.shape or p_refined.ndim != 3 or not 1 <= p_refined.shape[0] <= 256 \
            or p_refined.dtype != np.float32 or p_warped.dtype != np.float32:
        raise KernelError(f"probabilities must be float32 LxHxW of one shape, got {p_refined.shape} and {p_warped.shape}")
    if not labels.flags.c_contiguous or not labels.flags.writeable:
        raise KernelError("labels must be a writable C-contiguous array (updated in place)")
    args = [np.ascontiguousarray(a) for a in (mask, p_refined, p_warped)]
    if _c is None:
        labels[...] = reference.blend_argmax(*args, labels)
        return int((mask > 0).sum())
    return int(_c.blend(*args, labels, threads))


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5,
            threads: int = DEFAULT_THREADS) -> np.ndarray:
    """RGB frame with the label colours blended in (``palette``: Nx3 uint8, N <= 256)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or labels.shape != rgb.shape[:2] or labels.dtype != np.uint8:
        raise KernelError(f"overlay needs uint8 HxWx3 rgb and uint8 HxW labels, got {rgb.dtype} {rgb.shape}, "
                          f"{labels.dtype} {labels.shape}")
    table = np.zeros((256, 3), np.uint8)
    pal = np.asarray(palette, np.uint8).reshape(-1, 3)[:256]
    table[:len(pal)] = pal
    a = int(round(min(max(alpha, 0.0), 1.0) * 256))
    rgb, labels = np.ascontiguousarray(rgb), np.ascontiguousarray(labels)
    if _c is None:
        return reference.overlay(rgb, labels, table, a)
    out = np.empty_like(rgb)
    _c.overlay(rgb, labels, table, out, a, threads)
    return out


def upsample_argmax(scores: np.ndarray, size_hw: tuple[int, int], threads: int = DEFAULT_THREADS) -> np.ndarray:
    """CxhxW scores -> HxW uint8 labels: bilinear upsampling fused with argmax (first maximal class).

    The C kernel never materialises the CxHxW upsampled scores (23 MB at 960x540 with 11 classes).
    """
    if scores.ndim != 3 or not 1 <= scores.shape[0] <= 256 or min(scores.shape[1:]) < 1 or min(size_hw) < 1:
        raise KernelError(f"upsample_argmax needs CxHxW scores (1 <= C <= 256) and a positive size, got {scores.shape}, {size_hw}")
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if _c is None:
        return reference.upsample_argmax(scores, size_hw)
    x0, x1, a0, a1 = _bilinear_axis(scores.shape[2], size_hw[1])
    y0, y1, b0, b1 = _bilinear_axis(scores.shape[1], size_hw[0])
    out = np.empty(size_hw, np.uint8)
    _c.upsample_argmax(scores, x0, x1, a0, a1, y0, y1, b0, b1, out, threads)
    return out


@lru_cache(maxsize=32)
def _bilinear_axis(n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    """reference.bilinear_axis, made once per size pair (0.06 ms each, twice per keyframe) and kept read-only."""
    axis = reference.bilinear_axis(n_in, n_out)
    for a in axis:
        a.flags.writeable = False
    return axis


def normalize(rgb: np.ndarray, table: np.ndarray, planar: bool = True, bgr: bool = False, threads: int = 1) -> np.ndarray:
    """uint8 HxWx3 -> float32 3xHxW (``planar``) or HxWx3: output channel k is ``table[k][pixel]`` of input channel
    k (2 - k with ``bgr``). ``table`` (3x256 float32) is the per-value arithmetic, done once (``pixel_table``)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or table.shape != (3, 256) or table.dtype != np.float32:
        raise KernelError(f"normalize needs uint8 HxWx3 pixels and a float32 3x256 table, got {rgb.dtype} {rgb.shape}, "
                          f"{table.dtype} {table.shape}")
    rgb, table = np.ascontiguousarray(rgb), np.ascontiguousarray(table)
    if _c is None:
        return reference.normalize(rgb, table, planar, bgr)
    out = np.empty((3, *rgb.shape[:2]) if planar else rgb.shape, np.float32)
    _c.normalize(rgb, table, out, int(planar), int(bgr), threads)
    return out
