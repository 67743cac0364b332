"""GRFP's STGRU: fuses this frame's logits with the flow-warped previous state (logits) at 1/4 resolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.runtime.fusion.spec import FusionFrame, OneFrameBack, Previous, Run, register_head


@dataclass(frozen=True)
class Stgru(OneFrameBack):
    def step(self, state: Previous, frame: FusionFrame, run: Run) -> np.ndarray:
        """``state.maps``: the hidden state h (1 x L x h/4 x w/4 logits); ``state.image``: the previous frame at 1/4."""
        size = frame.logits.shape[-2:]
        image = frame.image(size)
        h_prev, image_prev, state.image = state.maps, state.image, image
        out = None
        if h_prev is not None and image_prev is not None and frame.flow is not None:
            out = run({"x": frame.logits, "h_prev": h_prev, "image": image, "image_prev": image_prev,
                       "flow": frame.flow_at(size)})
        state.maps = frame.logits if out is None else out["h"]  # first frame: h_0 = x_0
        return state.maps[0]


SPEC = register_head(Stgru("stgru", inputs=("x", "h_prev", "image", "image_prev", "flow"), outputs=("h",),
                           summary="GRFP spatio-temporal GRU over the backbone's logits"))
