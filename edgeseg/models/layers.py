"""Small building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """3x3 (or k x k) convolution, batch norm, ReLU (optional)."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1, relu: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, padding=dilation * (k // 2), dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Basic residual block (two 3x3 convs), optional stride / dilation / channel change."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = ConvBNReLU(cin, cout, stride=stride, dilation=dilation)
        self.conv2 = ConvBNReLU(cout, cout, dilation=dilation, relu=False)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = ConvBNReLU(cin, cout, k=1, stride=stride, relu=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.skip(x))


def channels(base: int, width: float) -> int:
    """Scale a channel count by the width multiplier, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(base * width / 8)) * 8)
