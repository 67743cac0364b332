"""The ``Engine`` protocol every backend implements, and how an engine is released. Torch-free; imports nothing
of edgeseg, so the backends, the network I/O and the engine table all read it without an import circle."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Engine(Protocol):
    """One graph ready to run: ``infer({input name: array}) -> {output name: array}``. ``backend`` names the
    backend that made it (``edgeseg.runtime.engines.registry.BACKEND_TABLE``)."""

    backend: str
    inputs: dict[str, tuple]
    output_names: list[str]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def close_engine(engine: Engine) -> None:
    """Release what an engine holds (device buffers, streams) where its backend has anything to release."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()
