"""GRFP's STGRU: fuses this frame's logits with the flow-warped previous state (logits) at 1/4 resolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeseg.runtime.fusion import FusionFrame, FusionSpec, Run, register_head


@dataclass
class StgruState:
    h: np.ndarray | None = None  # 1 x L x h x w logits
    image: np.ndarray | None = None  # previous frame at 1/4 resolution


@dataclass(frozen=True)
class Stgru(FusionSpec):
    def new_state(self, window: int) -> StgruState:
        return StgruState()

    def step(self, state: StgruState, frame: FusionFrame, run: Run) -> np.ndarray:
        size = frame.logits.shape[-2:]
        image = frame.image(size)
        h_prev, image_prev, state.image = state.h, state.image, image
        out = None
        if h_prev is not None and image_prev is not None and frame.flow is not None:
            out = run({"x": frame.logits, "h_prev": h_prev, "image": image, "image_prev": image_prev,
                       "flow": frame.flow_at(size)})
        state.h = frame.logits if out is None else out["h"]  # first frame: h_0 = x_0
        return state.h[0]


SPEC = register_head(Stgru("stgru", inputs=("x", "h_prev", "image", "image_prev", "flow"), outputs=("h",),
                           summary="GRFP spatio-temporal GRU over the backbone's logits"))
