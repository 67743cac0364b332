"""Bundle ONNX graphs -> TensorRT engines (TensorRT 10.x, 11.x): export and the TensorRT backend call it.

UNVERIFIED here: no TensorRT, no GPU.

Precision is explicit: the bundle's fp16 graphs carry fp16 types and its int8 graphs carry Q/DQ
nodes, so networks are created strongly typed and TensorRT keeps the graph's types (TensorRT 11
removed the implicit FP16/INT8 builder flags; explicit Q/DQ serves TensorRT 10 on JetPack 6 too).
Engines and the timing cache are written atomically under ``engines/``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edgeseg._fs import atomic_path
from edgeseg.bundle import Bundle
from edgeseg.bundle.manifest import EngineRecord
from edgeseg.errors import EdgesegError
from edgeseg.runtime.engines.backends.tensorrt_env import (
    current_gpu,
    engine_key,
    engine_record,
    import_tensorrt,
    timing_cache_name,
)

if TYPE_CHECKING:  # the real module is imported inside the functions, after import_tensorrt() vetted it
    import tensorrt as trt

class EngineBuildError(EdgesegError):
    """TensorRT could not parse a graph or build an engine."""


class GraphRefusedError(EngineBuildError):
    """TensorRT refuses the graph itself (its parser, the optimisation profile): another build on the same TensorRT
    and GPU gives the same answer. Failures that may not repeat (memory, workspace) are plain EngineBuildErrors."""


KEYFRAME_ROLES = ("pre", "post")  # edgeseg.export.keyframe_graphs
# The frame sizes the keyframe graphs' engines take (their one optimisation profile): 16x16 to 4K, tuned for 1080p
FRAME_MIN, FRAME_OPT, FRAME_MAX = (16, 16), (1080, 1920), (2160, 3840)


def require_tensorrt() -> None:
    """Fail early, with what to install, when --tensorrt cannot work on this machine."""
    import_tensorrt()
    current_gpu()


def build_engines(bundle: Bundle, folder: Path, workspace_mib: int = 1024) -> dict[str, EngineRecord]:
    """Build one engine per graph of ``bundle`` into ``folder``; returns the manifest's ``engines`` table.

    The keyframe pre/post graphs take any frame size: their engines get one optimisation profile (``FRAME_MIN`` to
    ``FRAME_MAX``). One that TensorRT will not build is left out with a warning: keyframes then run their pre- and
    post-processing on the host, as before."""
    records = {}
    for key, entry in bundle.graphs.items():
        try:
            records[key] = build_graph_engine(bundle, key, folder, workspace_mib)
        except EngineBuildError as e:
            if entry.role not in KEYFRAME_ROLES:
                raise
            if isinstance(e, GraphRefusedError):
                record_failure(folder, bundle, key, str(e))
            print(f"edgeseg: warning: no TensorRT engine for {key!r} ({e}); keyframes will do their pre- and "
                  "post-processing on the host", file=sys.stderr)
    return records


def build_graph_engine(bundle: Bundle, key: str, folder: Path, workspace_mib: int = 1024) -> EngineRecord:
    """Build the engine of graph ``key`` into ``folder`` (file named by its engine key); its manifest record.

    Torch-free: the TensorRT backend calls this to rebuild an engine made for another GPU or TensorRT.
    """
    import_tensorrt()
    import tensorrt as trt

    gpu = current_gpu()
    folder.mkdir(parents=True, exist_ok=True)
    logger = trt.Logger(trt.Logger.WARNING)
    cache_path = folder / timing_cache_name(trt.__version__, gpu)
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    entry = bundle.graphs[key]
    file = f"{engine_key(engine_digest(bundle, key), trt.__version__, gpu, entry.precision)}.engine"
    plan, cache_bytes = _build_one(logger, bundle.graph_path(key), workspace_mib, cache_bytes, _score_sizes(bundle))
    with atomic_path(folder / file) as tmp:
        tmp.write_bytes(plan)
    with atomic_path(cache_path) as tmp:
        tmp.write_bytes(cache_bytes)
    try:  # the manifest lists engines relative to the bundle; a cache elsewhere is recorded by absolute path
        listed = str((folder / file).relative_to(bundle.root))
    except ValueError:
        listed = str((folder / file).resolve())
    return engine_record(entry.sha256, trt.__version__, gpu, entry.precision, listed)


def engine_digest(bundle: Bundle, key: str) -> str:
    """What an engine of graph ``key`` is built from, as the digest its engine key is made of: the graph's sha256, and
    for the keyframe graphs their optimisation profile too (the frame sizes and the backbones' score sizes), so that
    an engine built for another profile (another bundle's backbones, another edgeseg) is never taken for this one."""
    entry = bundle.graphs[key]
    if entry.role not in KEYFRAME_ROLES:
        return entry.sha256
    profile = f"frames {FRAME_MIN} {FRAME_OPT} {FRAME_MAX} scores {sorted(set(_score_sizes(bundle)))}"
    return hashlib.sha256(f"{entry.sha256}|{profile}".encode()).hexdigest()


def failure_marker(folder: Path, bundle: Bundle, key: str, trt_version: str, gpu_key: str) -> Path:
    """Where TensorRT's refusal of keyframe graph ``key`` is recorded (keyed like its engine; ``GraphRefusedError``
    only, not a build that ran out of memory), so that a pre/post graph TensorRT will not take is not tried again on
    every run (keyframes then do their pre/post-processing on the host): deleting the file allows another try.
    Other graphs' failures are not recorded: they are errors."""
    return folder / f"{hashlib.sha256(f'{engine_digest(bundle, key)}|{trt_version}|{gpu_key}'.encode()).hexdigest()[:24]}.failed"


def record_failure(folder: Path, bundle: Bundle, key: str, why: str) -> None:
    """Write ``failure_marker`` for graph ``key`` on this GPU and TensorRT (best effort: a read-only folder only
    means the build is tried again next time)."""
    import tensorrt as trt

    gpu = current_gpu()
    try:
        with atomic_path(failure_marker(folder, bundle, key, trt.__version__, f"{gpu.name}|{gpu.compute_capability}")) as tmp:
            tmp.write_text(why + "\n")
    except OSError:
        pass


def _score_sizes(bundle: Bundle) -> list[tuple[int, int]]:
    """(h, w) of the class scores of every backbone graph: the sizes the post graph's engine must take."""
    sizes = []
    for entry in bundle.graphs.values():
        for out in entry.outputs if entry.role == "backbone" else []:
            if out.name == bundle.manifest.output.name and len(out.shape) == 4 and all(isinstance(d, int) for d in out.shape):
                nchw = bundle.manifest.output.layout == "NCHW"
                sizes.append((int(out.shape[2 if nchw else 1]), int(out.shape[3 if nchw else 2])))
    return sizes


def _add_profile(builder: trt.Builder, network: trt.INetworkDefinition, config: trt.IBuilderConfig,
                 score_sizes: list[tuple[int, int]]) -> None:
    """One optimisation profile for a graph with dynamic inputs (the keyframe graphs): frames (N, H, W, 3) and the
    frame-size shape tensor from ``FRAME_MIN`` to ``FRAME_MAX``, other dynamic (h, w) axes (the post graph's scores)
    over the backbones' score sizes. Nothing for a static graph."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    if not any(t.is_shape_tensor or any(int(d) < 0 for d in t.shape) for t in inputs):
        return
    profile = builder.create_optimization_profile()
    if score_sizes:
        small = (min(h for h, _ in score_sizes), min(w for _, w in score_sizes))
        large = (max(h for h, _ in score_sizes), max(w for _, w in score_sizes))
    else:
        small, large = (1, 1), (FRAME_MAX[0] // 4, FRAME_MAX[1] // 4)
    for t in inputs:
        if t.is_shape_tensor:  # post: the frame's (H, W)
            profile.set_shape_input(t.name, list(FRAME_MIN), list(FRAME_OPT), list(FRAME_MAX))
            continue
        dims = [int(d) for d in t.shape]
        if all(d >= 0 for d in dims):
            continue
        frame = len(dims) == 4 and dims[3] == 3  # pre: the uint8 frame, N x H x W x 3; else post's N x C x h x w scores
        rows, cols = (1, 2) if frame else (len(dims) - 2, len(dims) - 1)
        shapes = []
        for h, w in (FRAME_MIN, FRAME_OPT, FRAME_MAX) if frame else (small, large, large):
            shape = [d if d >= 0 else 1 for d in dims]
            shape[rows], shape[cols] = h, w
            shapes.append(tuple(shape))
        profile.set_shape(t.name, shapes[0], shapes[1], shapes[2])
    if config.add_optimization_profile(profile) < 0:
        raise GraphRefusedError(f"TensorRT refused the optimisation profile of {network.name or 'a keyframe graph'} "
                               f"(frames {FRAME_MIN} to {FRAME_MAX}, scores {small} to {large})")


def _build_one(logger: trt.ILogger, onnx_path: Path, workspace_mib: int, cache_bytes: bytes,
               score_sizes: list[tuple[int, int]]) -> tuple[bytes, bytes]:
    import tensorrt as trt

    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise GraphRefusedError(f"TensorRT cannot parse {onnx_path.name}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    try:
        _add_profile(builder, network, config, score_sizes)
    except (RuntimeError, ValueError, TypeError) as e:  # the bindings raise these for shapes a profile cannot take
        raise GraphRefusedError(f"TensorRT refused the optimisation profile of {onnx_path.name}: {e}") from None
    try:
        cache = config.create_timing_cache(cache_bytes)
    except Exception:  # a damaged cache file: TensorRT raises its own types
        cache = None
    if cache_bytes and (cache is None or not config.set_timing_cache(cache, False)):
        # written by another build of TensorRT or for another GPU despite its name: start a new one, not fatal
        print(f"edgeseg: the TensorRT timing cache for {onnx_path.name} was rejected; building a new one", file=sys.stderr)
        cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, False):
        raise EngineBuildError("TensorRT refused an empty timing cache; reinstall TensorRT")
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineBuildError(f"TensorRT failed to build an engine for {onnx_path.name} (see the log above); "
                               "try a larger --workspace or another precision")
    return bytes(plan), bytes(config.get_timing_cache().serialize())
