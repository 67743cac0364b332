"""ONNX Runtime engine: TensorRT / CUDA execution providers when this onnxruntime has them, else CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgeseg.bundle import AUTO, Bundle, BundleError

GPU_PROVIDERS = {"TensorrtExecutionProvider", "CUDAExecutionProvider"}


def has_gpu_provider() -> bool:
    return bool(GPU_PROVIDERS & set(ort.get_available_providers()))


def graph_variant() -> str | None:
    """Which file of a graph ONNX Runtime should load here: with a GPU provider the bundle's own file (the int8
    Q/DQ graph TensorRT's provider takes, the fp16 graph CUDA runs), on a CPU the best one for it (``auto``:
    the uint8 twin of int8 graphs on x86)."""
    return None if has_gpu_provider() else AUTO


def default_providers(fp16: bool = False, cache_dir: str | Path | None = None, int8: bool = False) -> list:
    """The best execution providers this onnxruntime build offers, best first (CPU always last).

    TensorRT EP: fp16 / int8 (explicit Q/DQ) as the graph is, engine cache in ``cache_dir``; CUDA EP; CPU.
    """
    available = set(ort.get_available_providers())
    chosen: list = []
    if "TensorrtExecutionProvider" in available:
        trt_opts = {"trt_fp16_enable": fp16, "trt_int8_enable": int8, "trt_engine_cache_enable": cache_dir is not None}
        if cache_dir is not None:
            trt_opts["trt_engine_cache_path"] = str(cache_dir)
        chosen.append(("TensorrtExecutionProvider", trt_opts))
    if "CUDAExecutionProvider" in available:
        chosen.append("CUDAExecutionProvider")
    chosen.append("CPUExecutionProvider")
    return chosen


def open_graph(bundle: Bundle, key: str, threads: int | None, engine_cache: str | Path | None, spinning: bool,
               variant: str | None) -> OnnxRuntimeEngine:
    """Graph ``key`` of ``bundle`` in ONNX Runtime (``variant`` ``auto``: the file best for this machine)."""
    path = bundle.graph_path(key, variant=graph_variant() if variant == AUTO else variant)
    precision = bundle.graphs[key].precision if path.name == bundle.graphs[key].file else "fp32"
    return OnnxRuntimeEngine(path, threads=threads, cache_dir=engine_cache, fp16=precision == "fp16",
                             int8=precision == "int8", spinning=spinning)


class OnnxRuntimeEngine:
    """``infer({input name: array}) -> {output name: array}`` over one ONNX graph."""

    backend = "onnxrt"

    def __init__(self, path: str | Path, threads: int | None = None, providers: list | None = None,
                 fp16: bool = False, cache_dir: str | Path | None = None, int8: bool = False, spinning: bool = True):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # off: idle intra-op threads sleep instead of spinning (live mode: the propagation needs that core)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers or default_providers(fp16, cache_dir, int8))
        except Exception as exc:  # ORT raises its own exception types for corrupt graphs
            raise BundleError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}; "
                               "the file is corrupt or truncated, re-export the bundle") from None
        self.options = opts  # as given (the session's own copy does not list its config entries)
        self.inputs = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feed)))
