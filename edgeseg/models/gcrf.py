"""VideoGCRF (Chandra et al., CVPR 2018): a spatio-temporal Gaussian CRF solved by conjugate gradient.

Over a window of V frames with unaries B (logits), the CRF solves (A + lambda I) x = B where the
spatial blocks are A_v = S_v^T S_v and the temporal blocks T_uv = T_u^T T_v (u != v), built from
learned per-pixel embeddings S_v, T_v (D x N). A is never formed: with the per-frame products
S_i p_i and T_i p_i (D x L each) and their sum over frames cached,
    q_i = S_i^T (S_i p_i) + lambda p_i + T_i^T ((sum_j T_j p_j) - T_i p_i).
Embeddings are unit-norm per pixel and scaled by 1/sqrt(N), so the temporal part's eigenvalues are
>= -1 and lambda = 1 + softplus(theta) > 1 keeps the system symmetric positive definite (CG converges).

``attractive=True`` flips the pairwise sign, (lambda I - A) x = B: similar pixels (in space and across the
window's frames) pull each other's scores together, as a mean-field CRF smooths, instead of pushing apart.
||S_v^T S_v|| <= g_s^2 and the temporal off-diagonal part's eigenvalues are <= (V-1) g_t^2, so
lambda = 1 + g_s^2 + (V-1) g_t^2 + softplus(theta) keeps that system positive definite too.
The solve is K fixed CG iterations, unrolled (exports without ONNX Loop).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.registry import register_model

Operator = Callable[[torch.Tensor], torch.Tensor]


def gcrf_operator(S: torch.Tensor, T: torch.Tensor, lam: torch.Tensor, sign: float = 1.0) -> Operator:
    """Matrix-free (sign * A + lambda I) for embeddings S, T of shape (V, D, N); acts on p of shape (V, N, L)."""
    St, Tt = S.transpose(1, 2), T.transpose(1, 2)

    def apply(p: torch.Tensor) -> torch.Tensor:
        Tp = torch.matmul(T, p)  # (V, D, L)
        others = Tp.sum(dim=0, keepdim=True) - Tp
        pairwise = torch.matmul(St, torch.matmul(S, p)) + torch.matmul(Tt, others)
        return lam * p + (pairwise if sign > 0 else -pairwise)

    return apply


def cg_solve(apply: Operator, b: torch.Tensor, iterations: int, eps: float = 1e-12) -> torch.Tensor:
    """K unrolled conjugate-gradient steps for apply(x) = b, one independent solve per column (label)."""
    x = torch.zeros_like(b)
    r = b
    p = r
    rs = (r * r).sum(dim=(0, 1), keepdim=True)
    for _ in range(iterations):
        ap = apply(p)
        alpha = rs / (p * ap).sum(dim=(0, 1), keepdim=True).clamp_min(eps)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = (r * r).sum(dim=(0, 1), keepdim=True)
        p = r + (rs_new / rs.clamp_min(eps)) * p
        rs = rs_new
    return x


def _embedding_net(cin: int, hidden: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, dim, 1))


@register_model("gcrf")
class VideoGCRF(nn.Module):
    """``forward(unaries (V,L,H,W), images (V,3,H,W)) -> refined logits of the last frame (1,L,H,W)``."""

    def __init__(self, num_classes: int = 11, frames: int = 3, embed_dim: int = 16, iterations: int = 5,
                 image_channels: int = 3, hidden: int = 32, attractive: bool = False):
        super().__init__()
        self.num_classes, self.frames, self.iterations, self.attractive = num_classes, frames, iterations, attractive
        cin = image_channels + num_classes
        self.spatial = _embedding_net(cin, hidden, embed_dim)
        self.temporal = _embedding_net(cin, hidden, embed_dim)
        self.spatial_gain = nn.Parameter(torch.tensor(1.0))
        self.temporal_logit = nn.Parameter(torch.tensor(0.0))  # temporal gain = sigmoid in (0, 1)
        self.lam_param = nn.Parameter(torch.tensor(0.0))

    def lam(self) -> torch.Tensor:
        lam = 1.0 + F.softplus(self.lam_param)
        if self.attractive:  # above the largest eigenvalue of the pairwise part (see the module docstring)
            lam = lam + self.spatial_gain ** 2 + (self.frames - 1) * torch.sigmoid(self.temporal_logit) ** 2
        return lam

    def embeddings(self, unaries: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v, _, h, w = unaries.shape
        n = h * w
        inp = torch.cat([images, torch.softmax(unaries, dim=1)], dim=1)
        scale = 1.0 / float(n) ** 0.5
        S = F.normalize(self.spatial(inp), dim=1).reshape(v, -1, n) * (self.spatial_gain * scale)
        T = F.normalize(self.temporal(inp), dim=1).reshape(v, -1, n) * (torch.sigmoid(self.temporal_logit) * scale)
        return S, T

    def solve_window(self, unaries: torch.Tensor, images: torch.Tensor, iterations: int | None = None) -> torch.Tensor:
        """Refined logits of every frame of the window, (V, L, H, W)."""
        v, c, h, w = unaries.shape
        S, T = self.embeddings(unaries, images)
        b = unaries.reshape(v, c, h * w).transpose(1, 2)  # (V, N, L)
        op = gcrf_operator(S, T, self.lam(), -1.0 if self.attractive else 1.0)
        x = cg_solve(op, b, self.iterations if iterations is None else iterations)
        return x.transpose(1, 2).reshape(v, c, h, w)

    def forward(self, unaries: torch.Tensor, images: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.solve_window(unaries, images)[-1:]
