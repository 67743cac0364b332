"""VideoGCRF: a Gaussian CRF over a window of the last V frames' logits, solved by unrolled CG in the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from edgeseg.runtime.fusion.spec import FusionFrame, FusionSpec, Run, register_head


@dataclass
class GcrfState:
    window: int
    frames: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (unaries L x h x w, image 3 x h x w)


@dataclass(frozen=True)
class Gcrf(FusionSpec):
    def window(self, graph_inputs: Mapping[str, tuple]) -> int:
        return int(graph_inputs["unaries"][0])

    def module_window(self, module: Any) -> int:
        return int(module.frames)

    def new_state(self, window: int) -> GcrfState:
        return GcrfState(window)

    def step(self, state: GcrfState, frame: FusionFrame, run: Run) -> np.ndarray:
        image = frame.image(frame.logits.shape[-2:])
        state.frames = (state.frames + [(frame.logits[0], image[0])])[-state.window:]
        out = None
        if len(state.frames) == state.window:  # the solution of the window's last frame is this frame's
            out = run({"unaries": np.stack([f[0] for f in state.frames]), "images": np.stack([f[1] for f in state.frames])})
        return frame.logits[0] if out is None else out["logits"][-1]


SPEC = register_head(Gcrf("gcrf", inputs=("unaries", "images"), outputs=("logits",), needs_back_flow=False,
                          summary="VideoGCRF over a window of frames, unrolled conjugate gradient"))
