"""Differentiable backward warping by optical flow (bilinear, border clamped).

Convention (DESIGN.md): to bring frame t-1's maps into frame t, sample them at x + F(x) where F is
the backward flow t -> t-1 in pixels of the map being sampled, channel 0 = dx, channel 1 = dy.
This exports to the standard ONNX GridSample (opset >= 16), no custom op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flow_warp(x: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``x`` (N,C,H,W) at pixel positions grid + ``flow`` (N,2,H,W); border clamped."""
    n, _, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1).expand(n, h, w)
    xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w).expand(n, h, w)
    # align_corners=True maps pixel centre 0 -> -1 and W-1 -> +1.
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a flow field to ``size`` (H, W), rescaling its values with the grid."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return out * scale
