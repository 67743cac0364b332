"""EVS Refiner (section 3.5): re-predicts a propagated frame without recomputing the expensive branches.

It is ICNet with its low-resolution (deep, expensive) branches replaced by what the keyframe already
computed: the keyframe's 1/8 fused features and its class probabilities, both flow-warped to the
current frame. Only the cheap full-resolution branch runs on the current image. The runtime applies
its output only where the IAM mask says the flow is unreliable.

With ``feat_channels=0`` it needs no backbone features (image + warped probabilities only): the variant
trained on top of any bundle's backbone (``edgeseg train refiner --backbone BUNDLE``).

``compact=True`` (``edgeseg train refiner --compact``) is the variant for refinement by tiles: a thinner
full-resolution branch (16/32/48 channels) and one undilated 3x3 fusion layer of 64 channels, about a third of
the FLOPs, and a context of 24 input pixels instead of 40, so a tile wastes less on its margin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.icnet import head_logits, sub1_branch
from edgeseg.models.layers import ConvBNReLU, channels
from edgeseg.models.registry import register_model


def _context(fuse_reach_cells: int) -> int:
    """Input pixels a 1/4 output pixel depends on, on each side, rounded up to the 1/8 grid: the full-resolution
    branch's three stride-2 3x3 convs reach 7 px; the fusion convs ``fuse_reach_cells`` and the x2 bilinear
    upsampling 1 cell of 8 px at 1/8."""
    return 8 * (fuse_reach_cells + 1) + 8


@register_model("refiner")
class Refiner(nn.Module):
    """``forward(image, warped_feats 1/8, warped_probs 1/4) -> logits 1/4``; ``forward(image, warped_probs)`` when
    ``feat_channels`` is 0."""

    def __init__(self, num_classes: int = 11, width: float = 1.0, feat_channels: int | None = None,
                 compact: bool = False):
        super().__init__()
        feat_channels = channels(128, width) if feat_channels is None else feat_channels
        self.num_classes, self.feat_channels, self.compact = num_classes, feat_channels, compact
        if compact:
            s1, cf = channels(48, width), channels(64, width)
            self.sub1 = nn.Sequential(ConvBNReLU(3, channels(16, width), stride=2),
                                      ConvBNReLU(channels(16, width), channels(32, width), stride=2),
                                      ConvBNReLU(channels(32, width), s1, stride=2))
            layers = [ConvBNReLU(cf, cf)]
        else:
            s1, cf = channels(64, width), channels(96, width)
            self.sub1 = sub1_branch(width)
            layers = [ConvBNReLU(cf, cf, dilation=2), ConvBNReLU(cf, cf)]
        self.fuse = nn.Sequential(ConvBNReLU(s1 + feat_channels + num_classes, cf, k=1), *layers)
        # input pixels a 1/4 output pixel depends on, on each side (a tile's margin; the exporter checks it)
        self.context = _context(1 if compact else 3)
        self.classifier = nn.Conv2d(cf, num_classes, 1)
        # Starts close to "trust the warped probabilities"; learns where to override them.
        self.prior_gain = nn.Parameter(torch.tensor(1.0))

    def forward(self, image: torch.Tensor, *maps: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        warped_probs = maps[-1]
        s1 = self.sub1(image)
        probs8 = F.interpolate(warped_probs, size=s1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([s1, *maps[:-1], probs8], dim=1))  # maps[:-1]: the warped features, when used
        prior = torch.log(warped_probs.clamp_min(1e-4))
        return head_logits(self.classifier, x) + self.prior_gain * prior
