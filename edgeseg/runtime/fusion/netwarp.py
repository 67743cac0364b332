"""NetWarp: warps the previous frame's features (flow refined by a FlowCNN) and mixes them into this frame's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.runtime.fusion import FusionFrame, FusionSpec, Run, register_head


@dataclass
class NetwarpState:
    feats: np.ndarray | None = None  # previous frame's features, 1 x C x h/8 x w/8
    image: np.ndarray | None = None  # previous frame at 1/8 resolution


@dataclass(frozen=True)
class Netwarp(FusionSpec):
    def new_state(self, window: int) -> NetwarpState:
        return NetwarpState()

    def step(self, state: NetwarpState, frame: FusionFrame, run: Run) -> np.ndarray:
        size = frame.feats.shape[-2:]
        image = frame.image(size)
        feats_prev, image_prev = state.feats, state.image
        state.feats, state.image = frame.feats, image
        out = None
        if feats_prev is not None and image_prev is not None and frame.flow is not None:
            out = run({"feats": frame.feats, "feats_prev": feats_prev, "image": image, "image_prev": image_prev,
                       "flow": frame.flow_at(size)})
        return frame.logits[0] if out is None else out["logits"][0]


SPEC = register_head(Netwarp("netwarp", inputs=("feats", "feats_prev", "image", "image_prev", "flow"),
                             outputs=("logits",), summary="NetWarp: previous features warped by a refined flow"))
