"""What a head is (``HeadSpec``, ``FusionSpec``, the per-frame ``FusionFrame``) and the registry ``HEADS`` that the
head modules of this package fill. Torch-free; imports nothing from the heads, so they import it without a circle.
"""


from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from edgeseg.errors import UsageError

# run(feed) -> the graph's outputs, or None where no graph is run (export records feeds): the head
# then carries its input through, as on the first frame.
Run = Callable[[dict[str, np.ndarray]], "dict[str, np.ndarray] | None"]


@dataclass(frozen=True)
class HeadSpec:
    """A head's graph: its manifest key (also its checkpoint stem and train verb) and its I/O names."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    summary: str = ""

    def input_names(self, module: Any) -> list[str]:
        """The graph inputs of this head built as ``module`` (a variant may take fewer)."""
        return list(self.inputs)


@dataclass
class FusionFrame:
    """What a fusion head may use on one frame: the backbone's outputs and the flow to the previous frame."""

    rgb: np.ndarray  # HxWx3 uint8
    logits: np.ndarray  # 1 x L x h/4 x w/4 float32
    feats: np.ndarray | None  # 1 x C x h/8 x w/8 float32 (None: a backbone without features)
    flow: np.ndarray | None  # full-resolution backward flow t -> t-1 (None: first frame, or not needed)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def image(self, size: tuple[int, ...]) -> np.ndarray:
        """The frame normalised at a map's resolution (1 x 3 x h x w)."""
        from edgeseg.runtime.engines.preprocess import preprocess  # cv2: not at import (the registry feeds `--help`)
        return preprocess(self.rgb, (int(size[0]), int(size[1])), self.mean, self.std)

    def flow_at(self, size: tuple[int, ...]) -> np.ndarray:
        """The backward flow at a map's resolution, values in that map's pixels (1 x 2 x h x w)."""
        from edgeseg.runtime.motion.coarse_flow import flow_nchw, resize_flow
        assert self.flow is not None
        return flow_nchw(resize_flow(self.flow, (int(size[0]), int(size[1]))))


@dataclass(frozen=True)
class FusionSpec(HeadSpec):
    """A head that fuses every frame's segmentation with its past (profile ``fusion: <name>``)."""

    needs_back_flow: bool = True

    def window(self, graph_inputs: Mapping[str, tuple]) -> int:
        """Frames the head looks at, read from its graph's input shapes (2: this frame and the previous)."""
        return 2

    def module_window(self, module: Any) -> int:
        """The same, read from the torch module before it is exported."""
        return 2

    def new_state(self, window: int) -> Any:
        """Empty recurrent state; the pipeline keeps it, never the graph."""
        raise NotImplementedError

    def step(self, state: Any, frame: FusionFrame, run: Run) -> np.ndarray:
        """Fuse one frame (L x h x w scores), updating ``state``; ``run`` executes the head's graph."""
        raise NotImplementedError


@dataclass
class Previous:
    """Recurrent state of a head that looks one frame back: a map it carries and that frame's image."""

    maps: np.ndarray | None = None
    image: np.ndarray | None = None


@dataclass(frozen=True)
class OneFrameBack(FusionSpec):
    """A fusion head whose state is the previous frame (``Previous``)."""

    def new_state(self, window: int) -> Previous:
        return Previous()


HEADS: dict[str, HeadSpec] = {}


def register_head(spec: HeadSpec) -> HeadSpec:
    """Add a head to the registry (next to its definition, timm style)."""
    if spec.name in HEADS or spec.name in ("none", "backbone"):
        raise ValueError(f"head {spec.name!r} registered twice or reserved")
    HEADS[spec.name] = spec
    return spec


def head_names() -> tuple[str, ...]:
    """Every registered head, in registration order (the refiner first)."""
    return tuple(HEADS)


def fusion_names() -> tuple[str, ...]:
    """The heads a profile may name as ``fusion:``."""
    return tuple(n for n, s in HEADS.items() if isinstance(s, FusionSpec))


def get(name: str) -> HeadSpec:
    if name not in HEADS:
        raise UsageError(f"unknown head {name!r}; known: {', '.join(HEADS)}")
    return HEADS[name]


def fusion(name: str) -> FusionSpec:
    spec = get(name)
    if not isinstance(spec, FusionSpec):
        raise UsageError(f"head {name!r} is not a fusion head; fusion heads: {', '.join(fusion_names())}")
    return spec
