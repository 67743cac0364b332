"""TensorRT and CUDA discovery shared by the engine builder (export) and the TensorRT backend.

Nothing here runs on a machine without TensorRT: every entry point imports ``tensorrt`` lazily and
raises MissingDependencyError naming what to install. Engine files are keyed by everything that makes
a serialized engine unusable elsewhere (DESIGN.md "Bundle manifest").
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from edgeseg.errors import MissingDependencyError
from edgeseg.runtime.manifest import EngineRecord

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


def check_cuda(result: Any) -> Any:
    """Unpack a cuda-python ``(err, *values)`` tuple, raising on an error code."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "8.7"


def current_gpu(device: int = 0) -> Gpu:
    cudart = import_cudart()
    props = check_cuda(cudart.cudaGetDeviceProperties(device))
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return Gpu(name.strip("\x00 "), f"{props.major}.{props.minor}")


def engine_key(onnx_sha256: str, trt_version: str, gpu: Gpu, precision: str) -> str:
    """File stem of an engine: a digest of (ONNX sha256, TensorRT version, GPU name + compute capability, precision)."""
    text = "|".join([onnx_sha256, trt_version, gpu.name, gpu.compute_capability, precision])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def engine_record(onnx_sha256: str, trt_version: str, gpu: Gpu, precision: str, file: str) -> EngineRecord:
    """The manifest's description of one engine file (what the key was made from, spelled out)."""
    return EngineRecord(file=file, onnx_sha256=onnx_sha256, tensorrt=trt_version, gpu=gpu.name,
                        compute_capability=gpu.compute_capability, precision=precision)
