"""TensorRT 10.x / 11.x backend: a deserialized engine, tensors bound with ``set_tensor_address`` and run
with ``execute_async_v3`` on one CUDA stream, through pinned host buffers. UNVERIFIED here (no TensorRT).

Engines are found by their key (ONNX sha256, TensorRT version, GPU name and compute capability,
precision: DESIGN.md "Bundle manifest"), so an engine listed for another GPU or TensorRT version is
never loaded: the graph is rebuilt for this machine into ``<bundle>/engines`` (or ``--engine-cache``),
with the reason printed, or refused when ``rebuild`` is off.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeseg.bundle import Bundle, BundleError
from edgeseg.errors import EdgesegError
from edgeseg.runtime.engines.backends.cuda_buffers import CudaStream, IoBuffer
from edgeseg.runtime.engines.backends.tensorrt_env import Gpu, current_gpu, engine_key, import_tensorrt

if TYPE_CHECKING:
    import tensorrt as trt


class StaleEngineError(BundleError):
    """The bundle's engine was built for another GPU or TensorRT version, and rebuilding is off."""


def locate_engine(bundle: Bundle, key: str, trt_version: str, gpu: Gpu, folder: Path) -> tuple[Path, str | None]:
    """(path the engine of graph ``key`` has for this TensorRT and GPU, why it must be built, or None if it exists).

    The file name is the engine key, so an engine listed for another GPU or TensorRT version is never
    mistaken for this one's; the reason spells out what differs.
    """
    from edgeseg.runtime.engines.backends.tensorrt_build import engine_digest

    entry = bundle.graphs[key]
    path = folder / f"{engine_key(engine_digest(bundle, key), trt_version, gpu, entry.precision)}.engine"
    if path.is_file():
        return path, None
    listed = bundle.manifest.engines.get(key)
    if listed is None:
        return path, "the bundle has no TensorRT engine for it"
    differs = [f"{what} {mine!r} (engine: {getattr(listed, field)!r})" for what, field, mine in
               [("TensorRT", "tensorrt", trt_version), ("GPU", "gpu", gpu.name),
                ("compute capability", "compute_capability", gpu.compute_capability),
                ("precision", "precision", entry.precision), ("graph sha256", "onnx_sha256", entry.sha256)]
               if str(getattr(listed, field)) != str(mine)]
    return path, ("its engine was built for another machine: this one has " + ", ".join(differs) if differs
                  else f"its engine file {listed.file} is missing")


def engine_file(bundle: Bundle, key: str, cache_dir: Path | None = None, rebuild: bool = True,
                log: Any = sys.stderr) -> Path:
    """The engine of graph ``key`` for this GPU and TensorRT, building it (or refusing, ``rebuild=False``) when there is none."""
    import_tensorrt()
    import tensorrt as trt

    from edgeseg.runtime.engines.backends.tensorrt_build import (
        KEYFRAME_ROLES,
        GraphRefusedError,
        build_graph_engine,
        failure_marker,
        record_failure,
    )

    folder = cache_dir or bundle.root / "engines"
    gpu = current_gpu()
    path, reason = locate_engine(bundle, key, trt.__version__, gpu, folder)
    if reason is None:
        return path
    if not rebuild:
        raise StaleEngineError(f"graph {key!r} of {bundle.root}: {reason}; allow a rebuild or export with --tensorrt "
                               "on this machine")
    keyframe_graph = bundle.graphs[key].role in KEYFRAME_ROLES
    failed = failure_marker(folder, bundle, key, trt.__version__, f"{gpu.name}|{gpu.compute_capability}")
    if keyframe_graph and failed.is_file():  # TensorRT would refuse it again: do not spend the build time on every run
        raise GraphRefusedError(f"TensorRT {trt.__version__} failed to build {key!r} before: "
                               f"{failed.read_text().strip()} (delete {failed} to try again)")
    print(f"edgeseg: building a TensorRT engine for {key!r}: {reason} (once; cached in {folder})", file=log)
    try:
        build_graph_engine(bundle, key, folder)
    except PermissionError:
        raise BundleError(f"cannot write the engine for {key!r} into {folder}; pass --engine-cache DIR") from None
    except GraphRefusedError as e:  # it will refuse it again: remembered (a build out of memory is tried again)
        if keyframe_graph:
            record_failure(folder, bundle, key, str(e))
        raise
    return path


def open_graph(bundle: Bundle, key: str, threads: int | None, engine_cache: str | Path | None, spinning: bool,
               variant: str | None) -> TensorRTEngine:
    """Graph ``key`` of ``bundle`` as a TensorRT engine for this GPU (built and cached when there is none)."""
    bundle.graph_path(key)  # the ONNX file must still match the manifest the engine is keyed by
    return TensorRTEngine(bundle, key, Path(engine_cache) if engine_cache else None)


class TensorRTEngine:
    """``infer({input name: array}) -> {output name: array}`` over one TensorRT engine.

    Tensors of fixed shape get a pinned host + device buffer each. Dynamic ones (the keyframe pre/post graphs: any
    frame size) and host shape tensors get none: their caller sets their shapes and binds their memory
    (``set_shape``, ``bind``) before ``enqueue``, as ``TensorRTKeyframes`` does.
    """

    backend = "tensorrt"

    def __init__(self, bundle: Bundle, key: str, cache_dir: Path | None = None, rebuild: bool = True):
        import_tensorrt()
        import tensorrt as trt

        path = engine_file(bundle, key, cache_dir, rebuild)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:  # a plan from another TensorRT build or GPU that slipped past the key
            raise StaleEngineError(f"TensorRT cannot deserialize {path} (built by another TensorRT version or for "
                                   "another GPU); delete it and run again to rebuild")
        self._engine: trt.ICudaEngine = engine
        context = engine.create_execution_context()
        if context is None:
            raise EdgesegError(f"TensorRT could not create an execution context for {path} (GPU memory?)")
        self._context: trt.IExecutionContext = context
        self._stream = CudaStream()
        self._path = path
        self._buffers: dict[str, IoBuffer] = {}
        self.inputs: dict[str, tuple] = {}
        self.output_names: list[str] = []
        self.on_host: set[str] = set()  # shape tensors: TensorRT reads them from host memory
        try:
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                dims = engine.get_tensor_shape(name)
                shape = tuple(int(dims[j]) for j in range(len(dims)))
                if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
                    self.on_host.add(name)
                elif all(d >= 0 for d in shape):
                    buf = self._buffers[name] = IoBuffer(shape, trt.nptype(engine.get_tensor_dtype(name)))
                    self.bind(name, buf.device)
                if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    self.inputs[name] = shape
                else:
                    self.output_names.append(name)
        except BaseException:
            self.close()
            raise

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name in self.inputs:
            self._buffers[name].upload(feed[name], self._stream)
        self.enqueue(self._stream)
        return self.fetch(self.output_names)

    @property
    def stream(self) -> CudaStream:
        return self._stream

    def address(self, name: str) -> int:
        """Device address of a fixed-shape tensor's buffer (where the next engine of a chain reads it)."""
        return self._buffers[name].device

    def bind(self, name: str, address: int) -> None:
        """Point tensor ``name`` at ``address`` (device memory, or host memory for a shape tensor)."""
        if not self._context.set_tensor_address(name, address):
            raise EdgesegError(f"TensorRT refused the address of tensor {name!r} of {self._path}")

    def set_shape(self, name: str, shape: tuple[int, ...]) -> None:
        """The shape of a dynamic input for the next ``enqueue``."""
        if not self._context.set_input_shape(name, shape):
            raise EdgesegError(f"TensorRT refused shape {shape} for input {name!r} of {self._path} (outside its profile)")

    def dtype(self, name: str) -> np.dtype:
        """A tensor's NumPy element type, as the engine has it (TensorRT may narrow an ONNX INT64 input to INT32)."""
        import tensorrt as trt

        return np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))

    def shape(self, name: str) -> tuple[int, ...]:
        """A tensor's shape for the shapes set so far (an output's follows from its inputs)."""
        dims = self._context.get_tensor_shape(name)
        return tuple(int(dims[j]) for j in range(len(dims)))

    def enqueue(self, stream: CudaStream) -> None:
        """Queue one run on ``stream`` (tensors bound and uploaded beforehand)."""
        if not self._context.execute_async_v3(stream.handle):
            raise EdgesegError("TensorRT execute_async_v3 failed (see the TensorRT log above)")

    def fetch(self, names: list[str]) -> dict[str, np.ndarray]:
        """Copy fixed-shape tensors back to the host (after what was queued on this engine's stream)."""
        for name in names:
            self._buffers[name].download(self._stream)
        self._stream.synchronize()
        return {name: self._buffers[name].host.copy() for name in names}

    def close(self) -> None:
        for buf in self._buffers.values():
            buf.close()
        self._buffers.clear()
        self._stream.close()
