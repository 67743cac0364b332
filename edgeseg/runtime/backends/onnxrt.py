"""ONNX Runtime engine (CPU execution provider here; GPU providers are chosen in a later revision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgeseg.errors import EdgesegError


class OnnxRuntimeEngine:
    """``infer({input name: array}) -> {output name: array}`` over one ONNX graph."""

    def __init__(self, path: str | Path, threads: int | None = None):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for corrupt graphs
            raise EdgesegError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}; "
                               "the file is corrupt or truncated, re-export the bundle") from None
        self.inputs = {i.name: tuple(i.shape) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feed)))
