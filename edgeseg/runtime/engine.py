"""The Engine protocol every backend implements, and backend selection (``--backend``). Torch-free."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgeseg.errors import UsageError
from edgeseg.runtime.bundle import AUTO, Bundle

# The TensorRT (execute_async_v3) and torch reference backends are not written yet; ONNX Runtime already uses
# its TensorRT / CUDA execution providers where the installed onnxruntime has them.
BACKENDS = ("onnxrt",)


class Engine(Protocol):
    """One graph ready to run: ``infer({input name: array}) -> {output name: array}``."""

    inputs: dict[str, tuple]
    output_names: list[str]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def best_backend() -> str:
    """The backend used when ``--backend`` is not given."""
    return "onnxrt"


def open_engine(bundle: Bundle, key: str, backend: str = "onnxrt", threads: int | None = None) -> Engine:
    """An engine for graph ``key`` of ``bundle`` on ``backend``."""
    if backend == "onnxrt":
        from edgeseg.runtime.backends.onnxrt import OnnxRuntimeEngine
        return OnnxRuntimeEngine(bundle.graph_path(key, variant=AUTO), threads=threads)
    raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")

