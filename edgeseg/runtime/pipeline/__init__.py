"""The scheduler (``core.Pipeline``), refinement by tiles, stats, and the ``Session`` that drives every frame loop.

``edgeseg.runtime.pipeline.Pipeline`` (the path the README has always shown) still resolves, loaded on first use.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("Pipeline", "Propagator"):
        from edgeseg.runtime.pipeline import core
        return getattr(core, name)
    raise AttributeError(f"module 'edgeseg.runtime.pipeline' has no attribute {name!r}")
