"""fp32 ONNX -> fp16 ONNX with fp32 inputs/outputs, numerically sensitive ops kept in fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from edgeseg._lazy import lazy_import

# Softmax, and the CG solve's matrix products (sums over every pixel of a frame), reductions and divisions,
# are where fp16 overflows (> 65504) or loses the digits that keep parity; they stay fp32 with casts around.
# (MatMul appears only in the VideoGCRF graph: convolutions stay fp16.)
KEEP_FP32_OPS = ("Softmax", "LogSoftmax", "ReduceSum", "ReduceMean", "ReduceL2", "Div", "Sqrt", "Pow", "MatMul")
# Nodes whose outputs are this small are the scalars of an iterative solve (CG's residual norms, step sizes):
# they stay fp32 too. They cost nothing, and a dot product over a frame (millions) does not fit in fp16.
SCALAR_ELEMENTS = 64


def convert_fp16(src: Path, dst: Path) -> None:
    """Write ``src`` converted to fp16 to ``dst``; graph inputs and outputs stay fp32."""
    float16 = lazy_import("onnxruntime.transformers.float16", "pip install onnxruntime")
    model = onnx.load(str(src))
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + list(KEEP_FP32_OPS)
    half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked,
                                            node_block_list=scalar_nodes(model))
    _drop_round_trips(half)
    _topological_sort(half.graph)
    onnx.checker.check_model(half)
    onnx.save(half, str(dst))


def scalar_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes all of whose outputs have a known shape of at most SCALAR_ELEMENTS elements."""
    inferred = onnx.shape_inference.infer_shapes(model)
    sizes = {}
    for v in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            sizes[v.name] = int(np.prod([d.dim_value for d in dims]))
        elif v.type.tensor_type.HasField("shape") and not dims:
            sizes[v.name] = 1  # a true scalar
    return [n.name for n in model.graph.node
            if n.name and n.output and all(sizes.get(o, SCALAR_ELEMENTS + 1) <= SCALAR_ELEMENTS for o in n.output)]


def _drop_round_trips(model: onnx.ModelProto) -> None:
    """Remove fp32 -> fp16 -> fp32 Cast pairs. The converter casts every output of a node kept in fp32 to fp16,
    even when all its consumers cast it straight back; a value too large for fp16 (a CG dot product) would
    become inf on the way."""
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return  # consumers inside Loop/If/Scan bodies are not seen here: leave such graphs as they are
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in graph.output}
    floats = _float_tensors(model)
    rename: dict[str, str] = {}
    dropped = set()
    for n in graph.node:
        if (n.op_type != "Cast" or _cast_to(n) != onnx.TensorProto.FLOAT16 or n.output[0] in outputs
                or n.input[0] not in floats):  # only a float32 value may stand in for its fp32 copy
            continue
        users = consumers.get(n.output[0], [])
        if users and all(u.op_type == "Cast" and _cast_to(u) == onnx.TensorProto.FLOAT and u.output[0] not in outputs
                         for u in users):
            dropped.add(id(n))
            for u in users:
                dropped.add(id(u))
                rename[u.output[0]] = n.input[0]
    def source(name: str) -> str:  # a pair's input may itself come out of a dropped pair
        while name in rename:
            name = rename[name]
        return name

    kept = [n for n in graph.node if id(n) not in dropped]
    for n in kept:
        n.input[:] = [source(i) for i in n.input]
    del graph.node[:]
    graph.node.extend(kept)
    produced = {o for n in kept for o in n.output}
    stale = [v for v in graph.value_info if v.name not in produced]
    for v in stale:
        graph.value_info.remove(v)


def _float_tensors(model: onnx.ModelProto) -> set[str]:
    """Names of the float32 tensors of a model (inputs, initializers, and what shape inference can type)."""
    graph = model.graph
    try:
        graph = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - untyped tensors are then left alone
        pass
    typed = [*graph.input, *graph.output, *graph.value_info]
    names = {v.name for v in typed if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    names |= {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    names |= {o for n in graph.node if n.op_type == "Cast" and _cast_to(n) == onnx.TensorProto.FLOAT for o in n.output}
    return names


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), -1)


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Reorder nodes so every input is produced before use (the converter appends its Cast nodes last)."""
    nodes = list(graph.node)
    producer = {out: k for k, n in enumerate(nodes) for out in n.output}
    users: dict[int, list[int]] = {k: [] for k in range(len(nodes))}
    missing = [0] * len(nodes)
    for k, n in enumerate(nodes):
        for name in set(n.input):
            if name in producer:
                missing[k] += 1
                users[producer[name]].append(k)
    ready = [k for k in range(len(nodes)) if missing[k] == 0]
    order = []
    while ready:
        k = ready.pop(0)
        order.append(k)
        for u in users[k]:
            missing[u] -= 1
            if missing[u] == 0:
                ready.append(u)
    if len(order) != len(nodes):
        raise ValueError("graph has a cycle; cannot sort it")
    del graph.node[:]
    graph.node.extend(nodes[k] for k in order)
