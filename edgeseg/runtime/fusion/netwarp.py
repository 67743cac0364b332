"""NetWarp: warps the previous frame's features (flow refined by a FlowCNN) and mixes them into this frame's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.runtime.fusion.spec import FusionFrame, OneFrameBack, Previous, Run, register_head


@dataclass(frozen=True)
class Netwarp(OneFrameBack):
    def step(self, state: Previous, frame: FusionFrame, run: Run) -> np.ndarray:
        """``state.maps``: the previous frame's features (1 x C x h/8 x w/8); ``state.image``: that frame at 1/8."""
        size = frame.feats.shape[-2:]
        image = frame.image(size)
        feats_prev, image_prev = state.maps, state.image
        state.maps, state.image = frame.feats, image
        out = None
        if feats_prev is not None and image_prev is not None and frame.flow is not None:
            out = run({"feats": frame.feats, "feats_prev": feats_prev, "image": image, "image_prev": image_prev,
                       "flow": frame.flow_at(size)})
        return frame.logits[0] if out is None else out["logits"][0]


SPEC = register_head(Netwarp("netwarp", inputs=("feats", "feats_prev", "image", "image_prev", "flow"),
                             outputs=("logits",), summary="NetWarp: previous features warped by a refined flow"))
