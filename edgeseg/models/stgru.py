"""GRFP's Spatio-Temporal GRU (Nilsson & Sminchisescu, CVPR 2018), as its authors coded it.

One step, state as input/output (the pipeline carries ``h``):
    w   = warp(h_{t-1}, flow)                     flow: backward t -> t-1, in pixels of these maps
    r   = 1 - tanh(|conv7x7(I_t - warp(I_{t-1})) + b_r|)         (ONE channel: flow confidence)
    x', w' = softmax(x) - 1/L, softmax(w) - 1/L
    h~  = W_xh * x' + W_hh * (r . w')
    z   = sigmoid(W_xz * x' + W_hz * (r . w') + b_z)
    h   = lambda (1 - z) . r . w' + z . h~          (h stays logits; lambda learnable, init 2)
All convolutions are 7x7; W_xh and W_hh start near 6 x identity.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.registry import register_model
from edgeseg.models.warp import flow_warp


def _near_identity(conv: nn.Conv2d, gain: float, noise: float = 1e-3) -> None:
    with torch.no_grad():
        conv.weight.normal_(0.0, noise)
        c = conv.kernel_size[0] // 2
        for i in range(min(conv.in_channels, conv.out_channels)):
            conv.weight[i, i, c, c] += gain


@register_model("stgru")
class STGRU(nn.Module):
    """``forward(x, h_prev, image, image_prev, flow) -> h``; all maps at the logits' resolution."""

    def __init__(self, num_classes: int = 11, image_channels: int = 3, kernel: int = 7):
        super().__init__()
        p = kernel // 2
        L = num_classes
        self.num_classes = L
        self.conv_r = nn.Conv2d(image_channels, 1, kernel, padding=p)  # bias is b_r
        self.w_xh = nn.Conv2d(L, L, kernel, padding=p, bias=False)
        self.w_hh = nn.Conv2d(L, L, kernel, padding=p, bias=False)
        self.w_xz = nn.Conv2d(L, L, kernel, padding=p, bias=False)
        self.w_hz = nn.Conv2d(L, L, kernel, padding=p)  # bias is b_z
        self.lam = nn.Parameter(torch.tensor(2.0))
        _near_identity(self.w_xh, 6.0)
        _near_identity(self.w_hh, 6.0)
        for conv in (self.w_xz, self.w_hz, self.conv_r):
            nn.init.normal_(conv.weight, 0.0, 1e-3)
        nn.init.zeros_(self.w_hz.bias)
        nn.init.zeros_(self.conv_r.bias)

    def forward(self, x: torch.Tensor, h_prev: torch.Tensor, image: torch.Tensor, image_prev: torch.Tensor,  # type: ignore[override]
                flow: torch.Tensor) -> torch.Tensor:
        shift = 1.0 / self.num_classes
        w = flow_warp(h_prev, flow)
        r = 1.0 - torch.tanh(torch.abs(self.conv_r(image - flow_warp(image_prev, flow))))
        rw = r * (torch.softmax(w, dim=1) - shift)
        xs = torch.softmax(x, dim=1) - shift
        h_tilde = self.w_xh(xs) + self.w_hh(rw)
        z = torch.sigmoid(self.w_xz(xs) + self.w_hz(rw))
        return self.lam * (1.0 - z) * rw + z * h_tilde
