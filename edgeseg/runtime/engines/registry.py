"""Backend selection (``--backend``): one table, name -> module, probes, doctor line. Torch-free.

Each backend is one module under ``edgeseg.runtime.engines.backends``, imported only when chosen, with an
``open_graph(bundle, key, threads, engine_cache, spinning, variant) -> Engine`` function. ``best_backend`` takes
the first backend of ``PREFERENCE`` that runs on a GPU here, else ONNX Runtime on the CPU. Adding a backend is a
module and one row of ``BACKEND_TABLE``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeseg.bundle import AUTO, Bundle
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.runtime.engines.protocol import Engine, close_engine  # noqa: F401 (the protocol, read from here too)


@functools.cache  # doctor asks twice and best_backend again: its reason is printed once
def _tensorrt_usable() -> bool:
    """Whether TensorRT and a GPU work here; when TensorRT is installed but cannot be used, one line says why."""
    if importlib.util.find_spec("tensorrt") is None:
        return False
    try:
        from edgeseg.runtime.engines.backends.tensorrt_env import current_gpu, import_tensorrt, version_mismatches
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
    from edgeseg.runtime.engines.backends.tensorrt_env import libcuda
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


def _onnxrt_gpu() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    from edgeseg.runtime.engines.backends.onnxrt import has_gpu_provider
    return has_gpu_provider()


def _installed(module: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class Backend:
    """One inference backend: the module with its ``open_graph``, whether it can run here, whether it runs on a
    GPU here (both decided without importing torch), and its line in ``--help`` and ``edgeseg doctor``."""

    name: str
    module: str
    summary: str
    available: Callable[[], bool]
    on_gpu: Callable[[], bool]

    def open(self, bundle: Bundle, key: str, threads: int | None, engine_cache: str | Path | None, spinning: bool,
             variant: str | None) -> Engine:
        return importlib.import_module(self.module).open_graph(bundle, key, threads, engine_cache, spinning, variant)


BACKEND_TABLE: dict[str, Backend] = {b.name: b for b in (
    Backend("onnxrt", "edgeseg.runtime.engines.backends.onnxrt",
            "ONNX Runtime; its TensorRT / CUDA execution providers when the installed build has them",
            _installed("onnxruntime"), _onnxrt_gpu),
    Backend("tensorrt", "edgeseg.runtime.engines.backends.tensorrt_backend",
            "TensorRT engines run with execute_async_v3 (tensorrt + cuda-python + a GPU)",
            _tensorrt_usable, _tensorrt_usable),
    Backend("torch", "edgeseg.runtime.engines.backends.torch_ref",
            "the source checkpoints in PyTorch (reference; CUDA when available)", _installed("torch"), _torch_cuda),
)}
BACKENDS = tuple(BACKEND_TABLE)
PREFERENCE = ("tensorrt", "onnxrt", "torch")  # best_backend's order among those that run on a GPU here


def best_backend() -> str:
    """The backend used when ``--backend`` is not given: the fastest one that can run here.

    TensorRT when it and a GPU are present; ONNX Runtime when its build has a GPU provider; PyTorch on
    CUDA when only PyTorch sees the GPU; else ONNX Runtime on the CPU. Decides without importing torch:
    the runtime loads torch only when ``--backend torch`` is asked for.
    """
    return next((name for name in PREFERENCE if BACKEND_TABLE[name].on_gpu()), "onnxrt")


def open_engine(bundle: Bundle, key: str, backend: str = "onnxrt", threads: int | None = None,
                engine_cache: str | Path | None = None, spinning: bool = True, variant: str | None = AUTO) -> Engine:
    """An engine for graph ``key`` of ``bundle`` on ``backend`` (``threads``, ``spinning``: ONNX Runtime's intra-op
    threads on the CPU, edgeseg.runtime.engines.thread_budget; ``variant``: which file of the graph ONNX Runtime loads,
    ``auto`` = the best one for this machine)."""
    if backend not in BACKEND_TABLE:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return BACKEND_TABLE[backend].open(bundle, key, threads, engine_cache, spinning, variant)
