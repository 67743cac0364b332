"""Export one torch module to a checked ONNX file, and describe an ONNX file's inputs and outputs."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edgeseg.bundle.manifest import TensorSpec
from edgeseg.errors import EdgesegError

MIN_OPSET = 17


class ExportError(EdgesegError):
    """torch -> ONNX conversion or the ONNX checker failed."""


def export_onnx(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                output_names: list[str], opset: int) -> None:
    """Export with static shapes, then run onnx.checker; warps export as standard GridSample."""
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: GridSample and the exporter need >= {MIN_OPSET}")
    module.eval()
    # The exporter warns about torchvision ops it cannot register; edgeseg uses none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(path), input_names=input_names, output_names=output_names,
                              opset_version=opset, dynamo=True, optimize=True, external_data=False)
    except Exception as exc:
        raise ExportError(f"exporting {path.name} to ONNX failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    model = onnx.load(str(path))
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected {path.name}: {exc}") from None
    banned = {n.op_type for n in model.graph.node} & {"Loop", "Scan", "If"}
    if banned:
        raise ExportError(f"{path.name} contains control flow {sorted(banned)}; graphs must be unrolled")


_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16", onnx.TensorProto.INT64: "int64",
           onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.INT8: "int8", onnx.TensorProto.INT32: "int32"}


def describe_io(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """(inputs, outputs) of an ONNX file, as the manifest lists them."""
    model = onnx.load(str(path), load_external_data=False)

    def rows(values: Any) -> list[TensorSpec]:
        out = []
        for v in values:
            t = v.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
            out.append(TensorSpec(v.name, shape, _DTYPES.get(t.elem_type, str(t.elem_type))))
        return out

    return rows(model.graph.input), rows(model.graph.output)


def example_inputs(feed: dict[str, np.ndarray], names: list[str]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(feed[n])) for n in names)
