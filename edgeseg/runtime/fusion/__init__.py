"""Heads as plug-ins: one torch-free spec per head, in a registry every other layer reads. Torch-free.

A spec says what the head's graph takes and gives (input/output names, in order), and, for a fusion
head, how its feeds are built from the pipeline's per-frame maps and its recurrent state (``step``),
whether it needs the backward flow on every frame, and how many frames it looks at. The pipeline, the
exporter (graph list and parity/calibration feeds), the profile schema (``fusion:`` values), the CLI
choices, the checkpoint loader and training all read ``HEADS``; adding a head is a model module, a spec
module here, and a profile YAML.
"""

# ruff: noqa: I001  (the heads are imported in registration order, the refiner first)
from edgeseg.runtime.fusion.spec import (  # noqa: F401  (the registry's API, read as ``fusion.X``)
    HEADS,
    FusionFrame,
    FusionSpec,
    HeadSpec,
    OneFrameBack,
    Previous,
    Run,
    fusion,
    fusion_names,
    get,
    head_names,
    register_head,
)
from edgeseg.runtime.fusion import refiner, stgru, netwarp, gcrf  # noqa: F401  (fill HEADS, this order)
