"""The Engine protocol every backend implements, and backend selection (``--backend``). Torch-free.

Backends (one module each under ``edgeseg.runtime.backends``, imported only when chosen):

- ``tensorrt``: TensorRT engines run with execute_async_v3 (needs tensorrt + cuda-python + a GPU);
- ``onnxrt``: ONNX Runtime, with its TensorRT / CUDA execution providers when the installed build has them;
- ``torch``: the source checkpoints run by PyTorch (reference; CUDA when available).
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from edgeseg.errors import EdgesegError, UsageError
from edgeseg.runtime.bundle import Bundle

BACKENDS = ("onnxrt", "tensorrt", "torch")


class Engine(Protocol):
    """One graph ready to run: ``infer({input name: array}) -> {output name: array}``."""

    inputs: dict[str, tuple]
    output_names: list[str]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def _tensorrt_usable() -> bool:
    """Whether TensorRT and a GPU work here; when TensorRT is installed but cannot be used, one line says why."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        from edgeseg.runtime.backends.tensorrt_env import current_gpu, import_tensorrt, version_mismatches
        import_tensorrt()
        current_gpu()
        return True
    except (EdgesegError, OSError) as exc:
        why = str(exc).split(";")[0]
        if "type stubs" not in why:  # the stubs used for type checking are not an installation
            fixes = version_mismatches()
            print(f"edgeseg: TensorRT is installed but not used ({why})" + (f"; {fixes[0]}" if fixes else ""), file=sys.stderr)
        return False


def cuda_device_count() -> int:
    """NVIDIA GPUs the CUDA driver reports, asked through libcuda with ctypes (no torch, no cuda-python);
    0 where there is no driver or no GPU."""
    from edgeseg.runtime.backends.tensorrt_env import libcuda
    lib = libcuda()
    count = ctypes.c_int(0)
    if lib is None or lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def _torch_build_has_cuda() -> bool:
    """Whether the installed torch is a CUDA build, read from its ``version.py`` without importing torch (2-3 s)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        text = version_file.read_text()
    except OSError:
        return False
    match = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match is not None


def _torch_cuda() -> bool:
    return _torch_build_has_cuda() and cuda_device_count() > 0


def best_backend() -> str:
    """The backend used when ``--backend`` is not given: the fastest one that can run here.

    TensorRT when it and a GPU are present; ONNX Runtime when its build has a GPU provider; PyTorch on
    CUDA when only PyTorch sees the GPU; else ONNX Runtime on the CPU. Decides without importing torch:
    the runtime loads torch only when ``--backend torch`` is asked for.
    """
    if _tensorrt_usable():
        return "tensorrt"
    from edgeseg.runtime.backends.onnxrt import has_gpu_provider
    if has_gpu_provider():
        return "onnxrt"
    if _torch_cuda():
        return "torch"
    return "onnxrt"


def open_engine(bundle: Bundle, key: str, backend: str = "onnxrt", threads: int | None = None,
                engine_cache: str | Path | None = None, spinning: bool = True) -> Engine:
    """An engine for graph ``key`` of ``bundle`` on ``backend`` (``threads``, ``spinning``: ONNX Runtime's intra-op
    threads on the CPU, edgeseg.runtime.thread_budget)."""
    if backend == "onnxrt":
        from edgeseg.runtime.backends.onnxrt import OnnxRuntimeEngine, graph_variant
        path = bundle.graph_path(key, variant=graph_variant())
        precision = bundle.graphs[key].precision if path.name == bundle.graphs[key].file else "fp32"
        return OnnxRuntimeEngine(path, threads=threads, cache_dir=engine_cache, fp16=precision == "fp16",
                                 int8=precision == "int8", spinning=spinning)
    if backend == "tensorrt":
        from edgeseg.runtime.backends.tensorrt_backend import TensorRTEngine
        bundle.graph_path(key)  # the ONNX file must still match the manifest the engine is keyed by
        return TensorRTEngine(bundle, key, Path(engine_cache) if engine_cache else None)
    if backend == "torch":
        from edgeseg.runtime.backends.torch_ref import TorchEngine
        return TorchEngine(bundle, key, threads=threads)
    raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def close_engine(engine: Engine) -> None:
    """Release what an engine holds (device buffers, streams) where its backend has anything to release."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()
