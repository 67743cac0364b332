"""Heads as plug-ins: one torch-free spec per head, in a registry every other layer reads. Torch-free.

A spec says what the head's graph takes and gives (input/output names, in order), and, for a fusion
head, how its feeds are built from the pipeline's per-frame maps and its recurrent state (``step``),
whether it needs the backward flow on every frame, and how many frames it looks at. The pipeline, the
exporter (graph list and parity/calibration feeds), the profile schema (``fusion:`` values), the CLI
choices, the checkpoint loader and training all read ``HEADS``. Every module of this package but ``spec`` is a
head's spec and is imported here (the refiner first, then by name), so adding a head is three new files: its model
module (``edgeseg/models/NAME.py``), its spec here (``NAME.py``) and a profile (``edgeseg/profiles/NAME.yaml``).
"""

import importlib
import pkgutil

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

_SPECS = sorted((m.name for m in pkgutil.iter_modules(__path__) if m.name != "spec"), key=lambda n: (n != "refiner", n))
for _module in _SPECS:
    importlib.import_module(f"{__name__}.{_module}")  # fills HEADS
