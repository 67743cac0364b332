"""NetWarp (Gadde et al., ICCV 2017) on the backbone's 1/8 fused features.

FlowCNN input = [flow, I_t, warp(I_{t-1})] at feature stride; 3x3 convs 16 -> 32 -> 2; concatenated
with the flow, a 1x1 conv -> 2 gives the transformed flow. The previous frame's features are warped
bilinearly (border clamp, GridSample) and mixed per channel: w1 * z_t + w2 * warp(z_{t-1}), w1 = 1,
w2 = 0 at initialisation, so an untrained NetWarp equals the plain backbone. The backbone's
classifier follows (copied from the backbone, fine-tuned with the head).
"""

from __future__ import annotations

import torch
from torch import nn

from edgeseg.models.icnet import head_logits
from edgeseg.models.registry import register_model
from edgeseg.models.warp import flow_warp


@register_model("netwarp")
class NetWarp(nn.Module):
    """``forward(feats, feats_prev, image, image_prev, flow) -> logits 1/4``; maps at 1/8 (flow in 1/8 px)."""

    def __init__(self, num_classes: int = 11, feat_channels: int = 128, image_channels: int = 3):
        super().__init__()
        self.flowcnn = nn.Sequential(
            nn.Conv2d(2 + 2 * image_channels, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 2, 3, padding=1),
        )
        self.combine = nn.Conv2d(4, 2, 1)
        with torch.no_grad():  # start as "use the DIS flow as is"
            self.combine.weight.zero_()
            self.combine.weight[0, 2] = 1.0
            self.combine.weight[1, 3] = 1.0
            self.combine.bias.zero_()
        self.w1 = nn.Parameter(torch.ones(1, feat_channels, 1, 1))
        self.w2 = nn.Parameter(torch.zeros(1, feat_channels, 1, 1))
        self.classifier = nn.Conv2d(feat_channels, num_classes, 1)

    def transformed_flow(self, image: torch.Tensor, image_prev: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        f = self.flowcnn(torch.cat([flow, image, flow_warp(image_prev, flow)], dim=1))
        return self.combine(torch.cat([f, flow], dim=1))

    def forward(self, feats: torch.Tensor, feats_prev: torch.Tensor, image: torch.Tensor,  # type: ignore[override]
                image_prev: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        warped = flow_warp(feats_prev, self.transformed_flow(image, image_prev, flow))
        return head_logits(self.classifier, self.w1 * feats + self.w2 * warped)
