"""TensorRT and CUDA discovery shared by the engine builder (export) and the TensorRT backend.

Nothing here runs on a machine without TensorRT: every entry point imports ``tensorrt`` lazily and
raises MissingDependencyError naming what to install. Engine files are keyed by everything that makes
a serialized engine unusable elsewhere (DESIGN.md "Bundle manifest").
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.metadata
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from edgeseg.bundle.manifest import EngineRecord
from edgeseg.errors import EdgesegError, MissingDependencyError

TRT_HINT = ("pip install 'edgeseg[tensorrt]' (tensorrt>=10 and cuda-python) on a machine with an NVIDIA GPU; "
            "on a Jetson, TensorRT comes with JetPack 6 (apt install python3-libnvinfer)")
SUPPORTED_MAJORS = (10, 11)


def import_tensorrt() -> ModuleType:
    """The real ``tensorrt`` module (>= 10), or MissingDependencyError.

    A folder of type stubs named ``tensorrt`` imports as an empty namespace package, so the import
    alone proves nothing: the module must carry a version and a Builder.
    """
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise MissingDependencyError(f"TensorRT is not importable ({exc}); install it: {TRT_HINT}") from None
    version = getattr(trt, "__version__", None)
    if version is None or not hasattr(trt, "Builder"):
        where = ", ".join(map(str, getattr(trt, "__path__", []))) or str(getattr(trt, "__file__", "?"))
        raise MissingDependencyError(f"the importable 'tensorrt' (at {where}) is not a TensorRT "
                                     f"installation (type stubs only?); install it: {TRT_HINT}")
    if trt_major(version) not in SUPPORTED_MAJORS:
        raise MissingDependencyError(f"TensorRT {version} is not supported (need 10.x or 11.x); install it: {TRT_HINT}")
    return trt


def trt_major(version: str) -> int:
    return int(version.split(".")[0])


def import_cudart() -> Any:
    """cuda-python's runtime API module (``cuda.bindings.runtime`` since 12.6, ``cuda.cudart`` before)."""
    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise MissingDependencyError(f"cuda-python is not importable; install it: {TRT_HINT}")


class CudaError(EdgesegError):
    """A CUDA call failed (no GPU, a driver too old for this cuda-python, out of memory)."""


def check_cuda(result: Any) -> Any:
    """Unpack a cuda-python ``(err, *values)`` tuple, raising CudaError (one line, with what to do) on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        name = getattr(err, "name", str(err))
        raise CudaError(f"CUDA call failed with {name}; check the GPU and its driver (nvidia-smi) and that cuda-python's "
                        f"major version matches the driver's CUDA (edgeseg doctor)")
    return values[0] if len(values) == 1 else tuple(values)


def libcuda() -> ctypes.CDLL | None:
    """The CUDA driver library (no torch, no cuda-python needed), or None where there is no NVIDIA driver."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def driver_cuda_version() -> str | None:
    """The newest CUDA version the installed driver supports (e.g. "12.4"); None without a driver."""
    lib = libcuda()
    version = ctypes.c_int(0)
    if lib is None or lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return f"{version.value // 1000}.{version.value % 1000 // 10}"


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def tensorrt_cuda_major() -> int | None:
    """The CUDA major the installed TensorRT wheel was built for (tensorrt-cu12 -> 12); None when unknown (JetPack's)."""
    for major in (13, 12, 11):
        if package_version(f"tensorrt-cu{major}") or package_version(f"tensorrt-cu{major}-bindings"):
            return major
    return None


def version_mismatches() -> list[str]:
    """What does not fit together among the driver, TensorRT's CUDA and cuda-python (one line each, with the fix)."""
    driver, cuda_python, trt_cuda = driver_cuda_version(), package_version("cuda-python"), tensorrt_cuda_major()
    problems = []
    if cuda_python and driver and int(cuda_python.split(".")[0]) > int(driver.split(".")[0]):
        problems.append(f"cuda-python {cuda_python} needs a CUDA {cuda_python.split('.')[0]} driver, this driver supports CUDA "
                        f"{driver}: pip install 'cuda-python>={driver.split('.')[0]},<{int(driver.split('.')[0]) + 1}'")
    if cuda_python and trt_cuda and int(cuda_python.split(".")[0]) != trt_cuda:
        problems.append(f"TensorRT is built for CUDA {trt_cuda} but cuda-python is {cuda_python}: "
                        f"pip install 'edgeseg[tensorrt-cu{trt_cuda}]'")
    if trt_cuda and driver and trt_cuda > int(driver.split(".")[0]):
        problems.append(f"TensorRT is built for CUDA {trt_cuda}, this driver supports CUDA {driver}: update the driver or "
                        f"pip install 'edgeseg[tensorrt-cu{driver.split('.')[0]}]'")
    return problems


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "8.7"


def current_gpu(device: int = 0) -> Gpu:
    cudart = import_cudart()
    props = check_cuda(cudart.cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return Gpu(name.strip("\x00 "), f"{props.major}.{props.minor}")


def timing_cache_name(trt_version: str, gpu: Gpu) -> str:
    """File name of the timing cache for this TensorRT and GPU: caches are not portable across either."""
    text = "|".join([trt_version, gpu.name, gpu.compute_capability])
    return f"timing-{hashlib.sha256(text.encode()).hexdigest()[:16]}.cache"


def engine_key(onnx_sha256: str, trt_version: str, gpu: Gpu, precision: str) -> str:
    """File stem of an engine: a digest of (ONNX sha256, TensorRT version, GPU name + compute capability, precision)."""
    text = "|".join([onnx_sha256, trt_version, gpu.name, gpu.compute_capability, precision])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def engine_record(onnx_sha256: str, trt_version: str, gpu: Gpu, precision: str, file: str) -> EngineRecord:
    """The manifest's description of one engine file (what the key was made from, spelled out)."""
    return EngineRecord(file=file, onnx_sha256=onnx_sha256, tensorrt=trt_version, gpu=gpu.name,
                        compute_capability=gpu.compute_capability, precision=precision)
