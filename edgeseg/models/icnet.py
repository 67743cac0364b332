"""ICNet-style backbone (Zhao et al., ECCV 2018), the keyframe network EVS uses.

Three branches share work by resolution:
  sub1  full-resolution image, three strided 3x3 convs -> 1/8 (shallow: fine detail, cheap)
  sub2  1/2-resolution image, residual stem -> 1/16
  sub4  sub2's 1/16 features pooled to 1/32, dilated residual blocks + pyramid pooling by summation
Cascade feature fusion (CFF) merges sub4 into sub2 (1/16) and the result into sub1 (1/8). The 1/8
fused map is what the Refiner and NetWarp reuse (``feats``); logits come out at 1/4 of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgeseg.models.layers import ConvBNReLU, ResBlock, channels
from edgeseg.models.registry import register_model


def sub1_branch(width: float) -> nn.Sequential:
    """The shallow full-resolution branch: image -> 1/8 resolution, 64*width channels."""
    c32, c64 = channels(32, width), channels(64, width)
    return nn.Sequential(ConvBNReLU(3, c32, stride=2), ConvBNReLU(c32, c32, stride=2), ConvBNReLU(c32, c64, stride=2))


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def head_logits(classifier: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """1/8 features -> logits at 1/4 (1x1 classifier then x2 bilinear: the two commute, this is cheaper)."""
    return F.interpolate(classifier(feats), scale_factor=2.0, mode="bilinear", align_corners=False)


class PyramidPoolingSum(nn.Module):
    """PSP pyramid pooling where the pooled maps are upsampled and summed (ICNet), not concatenated.

    Pool kernels are derived from the (static) input size so the graph exports as plain AveragePool.
    """

    def __init__(self, bins: tuple[int, ...] = (1, 2, 3, 6)):
        super().__init__()
        self.bins = bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        out = x
        for b in self.bins:
            kh, kw = max(1, h // b), max(1, w // b)
            pooled = F.avg_pool2d(x, kernel_size=(kh, kw), stride=(kh, kw))
            out = out + F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False)
        return out


class CascadeFeatureFusion(nn.Module):
    """CFF: upsample the coarse map x2, dilated 3x3 conv; 1x1 projection of the fine map; sum, ReLU."""

    def __init__(self, c_low: int, c_high: int, c_out: int):
        super().__init__()
        self.low = ConvBNReLU(c_low, c_out, dilation=2, relu=False)
        self.high = ConvBNReLU(c_high, c_out, k=1, relu=False)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low_up = upsample_to(low, high)
        return F.relu(self.low(low_up) + self.high(high)), low_up


@register_model("icnet", kind="backbone")
class ICNet(nn.Module):
    """ICNet backbone (``edgeseg.models.registry.Backbone``). ``forward(image)`` returns ``(logits at 1/4, feats at 1/8)``.

    ``forward(image, aux=True)`` also returns the cascade-label-guidance logits of the sub4 and
    sub24 stages (used only for training).
    """

    logits_stride, feat_stride, has_aux = 4, 8, True

    def __init__(self, num_classes: int = 11, width: float = 1.0):
        super().__init__()
        c32, c64, c128, c256 = (channels(b, width) for b in (32, 64, 128, 256))
        self.num_classes = num_classes
        self.feat_channels = c128
        self.sub1 = sub1_branch(width)
        self.stem = nn.Sequential(ConvBNReLU(3, c32, stride=2), ConvBNReLU(c32, c32), ConvBNReLU(c32, c64, stride=2))
        self.layer1 = ResBlock(c64, c64)
        self.layer2 = nn.Sequential(ResBlock(c64, c128, stride=2), ResBlock(c128, c128))
        self.layer3 = nn.Sequential(ResBlock(c128, c256, dilation=2), ResBlock(c256, c256, dilation=2))
        self.layer4 = ResBlock(c256, c256, dilation=4)
        self.ppm = PyramidPoolingSum()
        self.reduce = ConvBNReLU(c256, c128, k=1)
        self.cff24 = CascadeFeatureFusion(c128, c128, c128)
        self.cff12 = CascadeFeatureFusion(c128, c64, c128)
        self.classifier = nn.Conv2d(c128, num_classes, 1)
        self.aux4 = nn.Conv2d(c128, num_classes, 1)
        self.aux24 = nn.Conv2d(c128, num_classes, 1)

    def forward(self, image: torch.Tensor, aux: bool = False):  # type: ignore[override]
        half = F.interpolate(image, scale_factor=0.5, mode="bilinear", align_corners=False)
        x2 = self.layer2(self.layer1(self.stem(half)))  # 1/16
        x4 = F.avg_pool2d(x2, kernel_size=2, stride=2, ceil_mode=True)  # 1/32
        x4 = self.reduce(self.ppm(self.layer4(self.layer3(x4))))
        x24, x4_up = self.cff24(x4, x2)
        feats, x24_up = self.cff12(x24, self.sub1(image))  # 1/8
        logits = head_logits(self.classifier, feats)
        if not aux:
            return logits, feats
        return logits, feats, [self.aux4(x4_up), self.aux24(x24_up)]
