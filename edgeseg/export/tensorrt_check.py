"""Static TensorRT-compatibility check of ONNX graphs, with no TensorRT needed (``edgeseg check``).

Each rule is something TensorRT's ONNX parser (onnx-tensorrt) rejects or silently reads differently:
operators and opsets outside its support table for a TensorRT version (``data/tensorrt_onnx_support.json``,
with its source and date), Q/DQ nodes it cannot import (INT32 or UINT8 quantized tensors, non-zero zero
points, per-channel weights on another axis than the output channels), GridSample and Resize modes it does
not map, and, as warnings, what it accepts with restrictions (dynamic shapes, Loop/If/Scan, INT64 data).
A finding is one line: graph, node, why, what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from edgeseg.bundle import ORT_X86, Bundle, load_bundle
from edgeseg.errors import UsageError
from edgeseg.export.tensorrt_support import support_table, supported_ops, versions

QUANTIZED = {TensorProto.INT8, TensorProto.INT4, TensorProto.FLOAT8E4M3FN}  # what TensorRT dequantizes
RESIZE_COORDINATES = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
RESIZE_NEAREST = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}
SUBGRAPH_OPS = {"Loop", "If", "Scan"}
SHAPE_OPS = {"Shape", "Size"}  # their outputs are shape data, not data that flows from the inputs' values


@dataclass(frozen=True)
class Finding:
    graph: str
    node: str
    why: str
    fix: str
    error: bool = True  # False: a warning (TensorRT accepts it, with restrictions)

    def line(self, version: str) -> str:
        kind = "error" if self.error else "warning"
        return f"TensorRT {version}: {kind}: {self.graph}: {self.node}: {self.why}; {self.fix}"


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _label(node: onnx.NodeProto) -> str:
    return f"{node.name or '(unnamed)'} ({node.op_type})"


def _types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor name that shape inference or the graph states."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a graph inference cannot follow still gets the other checks
        inferred = model
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.input, *g.output, *g.value_info]}
    types.update({t.name: t.data_type for t in g.initializer})
    return types


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.output:
            tensor = _attr(n, "value")
            if tensor is not None:
                values[n.output[0]] = numpy_helper.to_array(tensor)
    return values


def _data_dependent(graph: onnx.GraphProto) -> set[str]:
    """Tensors whose values follow the graph inputs' values (shape computations excluded)."""
    live = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    for n in graph.node:  # ONNX nodes are topologically sorted
        if n.op_type not in SHAPE_OPS and any(i in live for i in n.input):
            live.update(o for o in n.output if o)
    return live


def check_model(model: onnx.ModelProto, name: str, version: str) -> list[Finding]:
    """Every finding for one graph and one TensorRT version."""
    table = support_table()["versions"][version]
    ops = supported_ops(version)
    findings: list[Finding] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    low, high = table["opsets"]
    if opset < low:
        findings.append(Finding(name, "graph", f"opset {opset} is below the {low}..{high} TensorRT {version} parses",
                                f"re-export with --opset {max(low, 17)}"))
    elif opset > high:
        findings.append(Finding(name, "graph", f"opset {opset} is newer than the {low}..{high} documented for TensorRT {version}",
                                f"re-export with --opset {high} or lower", error=False))
    graph = model.graph
    types, consts = _types(model), _constants(graph)
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for n in graph.node:
        for k, i in enumerate(n.input):
            consumers.setdefault(i, []).append((n, k))
    graph_outputs = {o.name for o in graph.output}
    for n in graph.node:
        findings += _node_findings(n, name, version, opset, ops, types, consts, consumers)
        findings += _uint8_findings(n, name, types, graph_outputs)
    for i in graph.input:
        dims = i.type.tensor_type.shape.dim
        if any(d.dim_param or d.dim_value <= 0 for d in dims):
            findings.append(Finding(name, f"input {i.name}", "has a dynamic dimension",
                                    "TensorRT then needs an optimization profile; export with a static --size", error=False))
    int64 = [t for t in _data_dependent(graph) if types.get(t) == TensorProto.INT64]
    if int64:
        findings.append(Finding(name, f"tensor {sorted(int64)[0]}" + (f" and {len(int64) - 1} more" if len(int64) > 1 else ""),
                                "INT64 data computed from the inputs", "TensorRT runs INT64 math slower and some layers "
                                "not at all; cast to INT32 or FLOAT in the model", error=False))
    return findings


def _node_findings(n: onnx.NodeProto, name: str, version: str, opset: int, ops: set[str], types: dict[str, int],
                   consts: dict[str, np.ndarray], consumers: dict[str, list[tuple[onnx.NodeProto, int]]]) -> list[Finding]:
    out: list[Finding] = []
    label = _label(n)
    if n.domain not in ("", "ai.onnx"):
        return [Finding(name, label, f"custom operator of domain {n.domain!r}", "TensorRT needs a plugin for it")]
    if n.op_type not in ops:
        return [Finding(name, label, f"{n.op_type} is not supported by TensorRT {version}'s ONNX parser",
                        "replace it in the model (see onnx-tensorrt's operator table)")]
    if n.op_type in SUBGRAPH_OPS:
        out.append(Finding(name, label, f"{n.op_type} is parsed with restrictions (static trip counts, same-shape carried "
                           "state)", "unroll it in the exported model", error=False))
    if n.op_type == "DequantizeLinear":
        out += _dequantize(n, name, label, types, consts, consumers)
    if n.op_type == "QuantizeLinear":
        zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        if zp is not None and zp.dtype != np.int8:
            out.append(Finding(name, label, f"quantizes to {zp.dtype} (TensorRT takes UINT8 only at network inputs and "
                               "outputs)", "quantize to symmetric int8 (zero point 0)"))
        elif zp is not None and np.any(zp != 0):
            out.append(Finding(name, label, "has a non-zero zero point", "use symmetric quantization (zero point 0)"))
    if n.op_type == "GridSample":
        mode = _attr(n, "mode", "linear" if opset >= 20 else "bilinear")
        if version == "10.3" and opset >= 20 and mode in ("linear", "cubic"):
            out.append(Finding(name, label, f"mode {mode!r} (the opset-20 spelling) is not mapped by TensorRT 10.1-10.3's "
                               "importer, which then samples nearest", "export at opset 19 or lower, where it is 'bilinear'"))
    if n.op_type == "Resize":
        out += _resize(n, name, label)
    return out


def _uint8_findings(n: onnx.NodeProto, name: str, types: dict[str, int], graph_outputs: set[str]) -> list[Finding]:
    """TensorRT keeps UINT8 at the network's edges: its parser rejects a UINT8 tensor that a node makes unless it is a
    graph output, and its cast layer converts to and from UINT8 only from and to FLOAT/HALF."""
    label, out = _label(n), []
    if n.domain not in ("", "ai.onnx"):
        return out
    made = [o for o in n.output if o and types.get(o) == TensorProto.UINT8 and o not in graph_outputs]
    if made and n.op_type not in ("QuantizeLinear", "Constant"):  # quantize: its own rule; constants become weights
        out.append(Finding(name, label, f"makes the UINT8 tensor {made[0]!r} inside the graph (TensorRT takes UINT8 only "
                           "at network inputs and outputs)", "keep the intermediate tensor in FLOAT, INT32 or BOOL"))
    if n.op_type in ("Cast", "CastLike") and n.input:
        source = types.get(n.input[0])
        target = _attr(n, "to") if n.op_type == "Cast" else types.get(n.input[1]) if len(n.input) > 1 else None
        floats = (TensorProto.FLOAT, TensorProto.FLOAT16)
        if source is not None and target is not None and TensorProto.UINT8 in (source, target) and source != target \
                and (source if target == TensorProto.UINT8 else target) not in floats:
            other = TensorProto.DataType.Name(source if target == TensorProto.UINT8 else target)
            direction = f"{other} to UINT8" if target == TensorProto.UINT8 else f"UINT8 to {other}"
            out.append(Finding(name, label, f"casts {direction}; TensorRT converts UINT8 only to and from FLOAT/HALF",
                               "cast through FLOAT (exact for values below 2^24)"))
    return out


def _dequantize(n: onnx.NodeProto, name: str, label: str, types: dict[str, int], consts: dict[str, np.ndarray],
                consumers: dict[str, list[tuple[onnx.NodeProto, int]]]) -> list[Finding]:
    out = []
    dtype = types.get(n.input[0])
    if dtype is not None and dtype not in QUANTIZED:
        kind = TensorProto.DataType.Name(dtype)
        fix = ("keep biases in float (ONNX Runtime: QuantizeBias=False)" if dtype == TensorProto.INT32
               else "quantize to symmetric int8")
        out.append(Finding(name, label, f"dequantizes an {kind} tensor; TensorRT takes only INT8/INT4/FP8 here "
                           "(\"only activation types allowed as input to this layer\")", fix))
    zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
    if zp is not None and np.any(zp != 0):
        out.append(Finding(name, label, "has a non-zero zero point", "use symmetric quantization (zero point 0)"))
    scale = consts.get(n.input[1])
    if scale is not None and scale.size > 1 and n.input[0] in consts:  # per-channel weights
        axis = _attr(n, "axis", 1)
        for consumer, k in consumers.get(n.output[0], []):
            if consumer.op_type == "Conv" and k == 1 and axis != 0:  # Conv weights: output channels are axis 0
                out.append(Finding(name, label, f"per-channel weights of {_label(consumer)} on axis {axis}",
                                   "quantize weights per output channel (axis 0)"))
    return out


def _resize(n: onnx.NodeProto, name: str, label: str) -> list[Finding]:
    out = []
    mode = _attr(n, "mode", "nearest")
    coords = _attr(n, "coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear"):
        out.append(Finding(name, label, f"resize mode {mode!r} is not supported", "use 'linear' or 'nearest'"))
    if coords not in RESIZE_COORDINATES:
        out.append(Finding(name, label, f"coordinate_transformation_mode {coords!r} is not supported",
                           f"use one of {', '.join(sorted(RESIZE_COORDINATES))}"))
    if mode == "nearest" and _attr(n, "nearest_mode", "round_prefer_floor") not in RESIZE_NEAREST:
        out.append(Finding(name, label, f"nearest_mode {_attr(n, 'nearest_mode')!r} is not supported",
                           f"use one of {', '.join(sorted(RESIZE_NEAREST))}"))
    if _attr(n, "antialias", 0):
        out.append(Finding(name, label, "antialiasing is not supported", "resize without antialias"))
    return out


def bundle_files(bundle: Bundle) -> list[Path]:
    """Every graph file of a bundle that TensorRT may be given (not the x86 ONNX Runtime twins of int8 graphs:
    TensorRT never runs them)."""
    files = []
    for key, entry in bundle.graphs.items():
        files.append(bundle.graph_path(key))
        files += [bundle.root / ref.file for v, ref in entry.variants.items() if v != ORT_X86]
    return files


def check(target: str | Path | Bundle, wanted: tuple[str, ...] | None = None) -> dict[str, list[Finding]]:
    """{version: findings} for a bundle (folder or loaded) or an ONNX file."""
    if isinstance(target, Bundle):
        files = bundle_files(target)
    else:
        path = Path(target)
        if not path.exists():
            raise UsageError(f"{path} does not exist; pass a bundle folder or an .onnx file")
        files = [path] if path.is_file() else bundle_files(load_bundle(path))
    chosen = wanted or versions()
    for v in chosen:
        supported_ops(v)  # an unknown version is a usage error before any work
    report: dict[str, list[Finding]] = {v: [] for v in chosen}
    for file in files:
        try:
            model = onnx.load(str(file), load_external_data=False)
        except Exception as exc:
            raise UsageError(f"{file} is not a readable ONNX model ({type(exc).__name__}); re-export it") from None
        for v in chosen:
            report[v] += check_model(model, file.name, v)
    return report


def summary(report: dict[str, list[Finding]]) -> dict[str, dict[str, Any]]:
    """The report as JSON (parity.json's ``tensorrt_check``): per version, passed and its finding lines."""
    return {v: {"passed": not any(f.error for f in found), "findings": [f.line(v) for f in found]}
            for v, found in report.items()}
