"""Bundle ONNX graphs -> TensorRT engines (TensorRT 10.x and 11.x); export and the TensorRT backend call it. UNVERIFIED here: no TensorRT/GPU.

Precision is explicit: the bundle's fp16 graphs carry fp16 types and its int8 graphs carry Q/DQ
nodes, so networks are created strongly typed and TensorRT keeps the graph's types (TensorRT 11
removed the implicit FP16/INT8 builder flags). On TensorRT 10 an fp32 graph can still be calibrated
implicitly with an IInt8EntropyCalibrator2 (``edgeseg.calibration.tensorrt``), for JetPack 6 users.
Engines and the timing cache are written atomically under ``engines/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeseg._fs import atomic_path
from edgeseg.errors import EdgesegError
from edgeseg.runtime.backends.tensorrt_env import (
    current_gpu,
    engine_key,
    engine_record,
    import_tensorrt,
    trt_major,
)
from edgeseg.runtime.bundle import Bundle

if TYPE_CHECKING:  # the real module is imported inside the functions, after import_tensorrt() vetted it
    import tensorrt as trt

TIMING_CACHE = "timing.cache"


class EngineBuildError(EdgesegError):
    """TensorRT could not parse a graph or build an engine."""


def require_tensorrt() -> None:
    """Fail early, with what to install, when --tensorrt cannot work on this machine."""
    import_tensorrt()
    current_gpu()


def build_engines(bundle: Bundle, folder: Path, workspace_mib: int = 1024,
                  calibrators: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """Build one engine per graph of ``bundle`` into ``folder``; returns the manifest's ``engines`` table.

    ``calibrators`` (TensorRT 10 only) maps graph keys to IInt8 calibrators for implicit INT8 builds
    of fp32 graphs.
    """
    return {key: build_graph_engine(bundle, key, folder, workspace_mib, (calibrators or {}).get(key))
            for key in bundle.graphs}


def engine_source(bundle: Bundle, key: str, implicit_int8: bool = False) -> tuple[str | None, dict[str, Any], str]:
    """(variant, manifest entry of the ONNX file, precision) an engine of graph ``key`` is built from."""
    entry = bundle.graphs[key]
    if implicit_int8:
        variant = "fp32" if "fp32" in entry.get("variants", {}) else None
        return variant, entry["variants"][variant] if variant else entry, "int8"
    return None, entry, entry["precision"]


def build_graph_engine(bundle: Bundle, key: str, folder: Path, workspace_mib: int = 1024,
                       calibrator: Any = None) -> dict[str, str]:
    """Build the engine of graph ``key`` into ``folder`` (file named by its engine key); its manifest record.

    Torch-free: the TensorRT backend calls this to rebuild an engine made for another GPU or TensorRT.
    """
    import_tensorrt()
    import tensorrt as trt

    gpu = current_gpu()
    folder.mkdir(parents=True, exist_ok=True)
    logger = trt.Logger(trt.Logger.WARNING)
    cache_path = folder / TIMING_CACHE
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    variant, source, precision = engine_source(bundle, key, calibrator is not None)
    file = f"{engine_key(source['sha256'], trt.__version__, gpu, precision)}.engine"
    plan, cache_bytes = _build_one(logger, bundle.graph_path(key, variant=variant), workspace_mib, cache_bytes, calibrator)
    with atomic_path(folder / file) as tmp:
        tmp.write_bytes(plan)
    with atomic_path(cache_path) as tmp:
        tmp.write_bytes(cache_bytes)
    try:  # the manifest lists engines relative to the bundle; a cache elsewhere is recorded by absolute path
        listed = str((folder / file).relative_to(bundle.root))
    except ValueError:
        listed = str((folder / file).resolve())
    return engine_record(source["sha256"], trt.__version__, gpu, precision, listed)


def _build_one(logger: trt.ILogger, onnx_path: Path, workspace_mib: int, cache_bytes: bytes,
               calibrator: trt.IInt8Calibrator | None) -> tuple[bytes, bytes]:
    import tensorrt as trt

    builder = trt.Builder(logger)
    implicit_int8 = calibrator is not None
    if implicit_int8 and trt_major(trt.__version__) >= 11:
        raise EngineBuildError("TensorRT 11 has no implicit INT8 calibration; export with --precision int8 "
                               "(explicit Q/DQ graphs) instead")
    flags = 0 if implicit_int8 else 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, False)
    if calibrator is not None:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"TensorRT failed to build an engine for {onnx_path.name} (see the log above); "
                               "try a larger --workspace or another precision")
    return bytes(plan), bytes(config.get_timing_cache().serialize())
