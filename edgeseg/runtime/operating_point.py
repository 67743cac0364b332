"""The operating point (DESIGN.md "Operating point") as frozen dataclasses. Torch-free.

The YAML files and their loader live in ``edgeseg.profiles``, which builds these; the runtime only
reads them, so a running pipeline cannot have its operating point changed under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOWNSCALES = (1.0, 0.5)  # D values of the backbone graphs every bundle holds (export order)
FLOW_PRESETS = ("ultrafast", "fast", "medium")  # OpenCV DIS presets (edgeseg.runtime.motion.flow maps them)


@dataclass(frozen=True)
class FlowParams:
    """DIS parameters (profile YAML ``flow:``); ``scale`` < 1 computes flow on a smaller image."""

    preset: str = "ultrafast"
    finest_scale: int = 2
    patch_size: int = 8
    gd_iterations: int = 12
    variational_iterations: int = 0
    scale: float = 1.0


@dataclass(frozen=True)
class Adaptive:
    """Re-key when more than ``max_inconsistency`` of the pixels are IAM-inconsistent, or after ``max_interval`` frames."""

    max_interval: int = 10
    max_inconsistency: float = 0.05


@dataclass(frozen=True)
class IamParams:
    dilate: int = 7  # square dilation of the inconsistency mask, pixels (0: none)
    blur: int = 9  # box blur of the dilated mask, pixels (0: none): a soft blend border


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    downscale: float = 1.0  # D
    keyframe_interval: int = 1  # S (overridden by ``adaptive`` when set)
    warp: bool = True  # W
    refine: bool = False  # R
    fusion: str = "none"  # "none" or a registered fusion head (edgeseg.runtime.fusion)
    adaptive: Adaptive | None = None
    flow: FlowParams = field(default_factory=FlowParams)
    iam: IamParams = field(default_factory=IamParams)

    def label(self) -> str:
        """EVS-style short description, e.g. ``D1.0 S5 W R``."""
        parts = [f"D{self.downscale:g}", f"S{self.keyframe_interval}"]
        parts += [p for p, on in (("W", self.warp), ("R", self.refine)) if on]
        if self.fusion != "none":
            parts.append(self.fusion)
        if self.adaptive:
            parts.append("adaptive")
        return " ".join(parts)
