"""EVS Refiner (section 3.5): re-predicts a propagated frame without recomputing the expensive branches.

It is ICNet with its low-resolution (deep, expensive) branches replaced by what the keyframe already
computed: the keyframe's 1/8 fused features and its class probabilities, both flow-warped to the
current frame. Only the cheap full-resolution branch runs on the current image. The runtime applies
its output only where the IAM mask says the flow is unreliable.

With ``feat_channels=0`` it needs no backbone features (image + warped probabilities only): the variant
trained on top of any bundle's backbone (``edgeseg train refiner --backbone BUNDLE``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.icnet import head_logits, sub1_branch
from edgeseg.models.layers import ConvBNReLU, channels
from edgeseg.models.registry import register_model


@register_model("refiner")
class Refiner(nn.Module):
    """``forward(image, warped_feats 1/8, warped_probs 1/4) -> logits 1/4``; ``forward(image, warped_probs)`` when
    ``feat_channels`` is 0."""

    def __init__(self, num_classes: int = 11, width: float = 1.0, feat_channels: int | None = None):
        super().__init__()
        c64, c96 = channels(64, width), channels(96, width)
        feat_channels = channels(128, width) if feat_channels is None else feat_channels
        self.num_classes, self.feat_channels = num_classes, feat_channels
        self.sub1 = sub1_branch(width)
        self.fuse = nn.Sequential(
            ConvBNReLU(c64 + feat_channels + num_classes, c96, k=1),
            ConvBNReLU(c96, c96, dilation=2),
            ConvBNReLU(c96, c96),
        )
        self.classifier = nn.Conv2d(c96, num_classes, 1)
        # Starts close to "trust the warped probabilities"; learns where to override them.
        self.prior_gain = nn.Parameter(torch.tensor(1.0))

    def forward(self, image: torch.Tensor, *maps: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        warped_probs = maps[-1]
        s1 = self.sub1(image)
        probs8 = F.interpolate(warped_probs, size=s1.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fuse(torch.cat([s1, *maps[:-1], probs8], dim=1))  # maps[:-1]: the warped features, when used
        prior = torch.log(warped_probs.clamp_min(1e-4))
        return head_logits(self.classifier, x) + self.prior_gain * prior
