"""The Engine protocol every backend implements, and backend selection (``--backend``). Torch-free."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeseg.errors import UsageError
from edgeseg.runtime.bundle import AUTO, Bundle

BACKENDS = ("onnxrt", "tensorrt", "torch")


class Engine(Protocol):
    """One graph ready to run: ``infer({input name: array}) -> {output name: array}``."""

    inputs: dict[str, tuple]
    output_names: list[str]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def best_backend() -> str:
    """tensorrt where TensorRT and cuda-python are importable, else onnxrt."""
    if importlib.util.find_spec("tensorrt") is not None:
        from edgeseg.errors import MissingDependencyError
        from edgeseg.runtime.backends.tensorrt_env import import_tensorrt
        try:
            import_tensorrt()
            return "tensorrt"
        except MissingDependencyError:
            pass
    return "onnxrt"


def open_engine(bundle: Bundle, key: str, backend: str = "onnxrt", threads: int | None = None) -> Engine:
    """An engine for graph ``key`` of ``bundle`` on ``backend``."""
    if backend == "onnxrt":
        from edgeseg.runtime.backends.onnxrt import OnnxRuntimeEngine
        return OnnxRuntimeEngine(bundle.graph_path(key, variant=AUTO), threads=threads)
    if backend == "tensorrt":
        from edgeseg.runtime.backends.tensorrt import TensorRTEngine
        return TensorRTEngine(bundle, key)
    if backend == "torch":
        from edgeseg.runtime.backends.torch import TorchEngine
        return TorchEngine(bundle, key)
    raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def engine_file(bundle: Bundle, key: str) -> Path:
    """The ONNX file an engine for ``key`` is built from (for messages)."""
    return bundle.graph_path(key, verify=False)
