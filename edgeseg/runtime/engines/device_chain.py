"""Whole keyframes on ONNX Runtime's device: the bundle's ``pre`` graph, the backbone and its ``post`` graph run in a
chain whose tensors stay where the backbone session runs (``IOBinding``). The frame goes up once as uint8, labels
come back as uint8, and scores and features only when refinement needs them (``DeviceKeyframes``). Torch-free.

Used where ONNX Runtime has a GPU provider; on a CPU it runs the same way (tests) but the host path (OpenCV
resize, C kernels) is faster there and exact, so it is not chosen by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeseg.bundle import Bundle, graph_key
from edgeseg.bundle.manifest import KEYFRAME_FRAME as FRAME  # the keyframe graphs' tensors, named once
from edgeseg.bundle.manifest import KEYFRAME_LABELS as LABELS
from edgeseg.bundle.manifest import KEYFRAME_SIZE as SIZE
from edgeseg.runtime.engines.network_io import KeyOutput, NetworkIO
from edgeseg.runtime.engines.protocol import Engine, close_engine


class GraphKeyframes:
    """The backbone engine (an ``OnnxRuntimeEngine``) with the bundle's pre and post graphs around it: ``infer`` as
    the backbone's, ``keyframe`` the whole chain on ``device`` (default: CUDA when the backbone session has it)."""

    def __init__(self, backbone: Any, pre: Any, post: Any, device: str | None = None):
        self.engine, self.pre, self.post = backbone, pre.session, post.session
        self._opened = (pre, post)  # closed with the chain; the backbone belongs to its opener
        self.wraps = backbone  # device_chain.wrapped
        self.backend, self.inputs, self.output_names = backbone.backend, backbone.inputs, backbone.output_names
        self.device = device or ("cuda" if "CUDAExecutionProvider" in backbone.session.get_providers() else "cpu")

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.engine.infer(feed)

    def keyframe(self, rgb: np.ndarray, io: NetworkIO, keep: bool) -> KeyOutput | None:
        """``DeviceKeyframes``: the chain, or None for a frame it does not take (not uint8 RGB)."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            return None
        first = self.pre.io_binding()
        first.bind_cpu_input(FRAME, np.ascontiguousarray(rgb[None]))
        first.bind_output(io.input.name, self.device)
        self.pre.run_with_iobinding(first)
        network = self.engine.session.io_binding()
        network.bind_ortvalue_input(io.input.name, first.get_outputs()[0])
        for name in self.output_names:
            network.bind_output(name, self.device)
        self.engine.session.run_with_iobinding(network)
        outs = dict(zip(self.output_names, network.get_outputs()))
        last = self.post.io_binding()
        last.bind_ortvalue_input(io.output.name, outs[io.output.name])
        last.bind_cpu_input(SIZE, np.array(rgb.shape[:2], np.int64))
        last.bind_output(LABELS, "cpu")
        self.post.run_with_iobinding(last)
        labels = last.copy_outputs_to_cpu()[0][0]
        if not keep:
            return KeyOutput(None, None, None, frame_labels=labels)
        host = dict(zip(self.output_names, network.copy_outputs_to_cpu()))
        feats = host[io.features][0] if io.features else None
        return KeyOutput(np.ascontiguousarray(host[io.output.name][0], dtype=np.float32), None, feats, frame_labels=labels)

    def close(self) -> None:
        """Release the pre/post engines (``release``)."""
        for engine in self._opened:
            close_engine(engine)


def keys(downscale: float) -> tuple[str, str]:
    """The manifest keys of the pre graph at ``downscale`` and of the post graph."""
    return graph_key("pre", downscale), "post"


def chained(bundle: Bundle, downscale: float, backbone: Engine, open_graph: Any) -> Engine:
    """``backbone`` with the bundle's pre/post graphs for ``downscale`` around it where a GPU runs it: ONNX Runtime
    with a GPU provider (``GraphKeyframes``) or TensorRT (``TensorRTKeyframes``); else ``backbone`` itself.
    ``open_graph(key)`` opens an engine. A wrapper that holds engines of its own has ``close`` (``release``)."""
    pre, post = keys(downscale)
    if pre not in bundle.graphs or post not in bundle.graphs:
        return backbone
    backend = getattr(backbone, "backend", None)
    if backend == "tensorrt":
        return _tensorrt_chain(backbone, pre, post, open_graph)
    from edgeseg.runtime.engines.backends.onnxrt import has_gpu_provider
    if backend != "onnxrt" or not has_gpu_provider():
        return backbone
    first = open_graph(pre)
    try:
        return GraphKeyframes(backbone, first, open_graph(post))
    except BaseException:
        close_engine(first)
        raise


def _tensorrt_chain(backbone: Any, pre: str, post: str, open_graph: Any) -> Engine:
    """The TensorRT chain, or the backbone alone (host pre/post, with the reason printed) when TensorRT cannot build
    or load the pre/post engines."""
    import sys

    from edgeseg.runtime.engines.backends.tensorrt_keyframes import TensorRTKeyframes
    opened: list[Any] = []
    try:
        opened.append(open_graph(pre))
        opened.append(open_graph(post))
        return TensorRTKeyframes(backbone, opened[0], opened[1])
    except Exception as e:  # noqa: BLE001 - TensorRT and CUDA raise their own types; the host path always works
        for engine in opened:
            engine.close()
        print(f"edgeseg: keyframe pre/post-processing stays on the host: {e}", file=sys.stderr)
        return backbone


def wrapped(chain: Engine) -> Engine:
    """The backbone engine that ``chain`` (what ``chained`` returned) runs: its ``wraps``, or itself."""
    return getattr(chain, "wraps", chain)


def release(chain: Engine) -> None:
    """Close what ``chained`` opened around its backbone (nothing when it returned the backbone itself)."""
    close = getattr(chain, "close", None)
    if wrapped(chain) is not chain and callable(close):
        close()
