"""fp32 ONNX -> fp16 ONNX with fp32 inputs/outputs, numerically sensitive ops kept in fp32."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgeseg._lazy import lazy_import

# Softmax, and the CG solve's matrix products (sums over every pixel of a frame), reductions and divisions,
# are where fp16 overflows (> 65504) or loses the digits that keep parity; they stay fp32 with casts around.
# (MatMul appears only in the VideoGCRF graph: convolutions stay fp16.)
KEEP_FP32_OPS = ("Softmax", "LogSoftmax", "ReduceSum", "ReduceMean", "ReduceL2", "Div", "Sqrt", "Pow", "MatMul")


def convert_fp16(src: Path, dst: Path) -> None:
    """Write ``src`` converted to fp16 to ``dst``; graph inputs and outputs stay fp32."""
    float16 = lazy_import("onnxruntime.transformers.float16", "pip install onnxruntime")
    model = onnx.load(str(src))
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + list(KEEP_FP32_OPS)
    half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked)
    _topological_sort(half.graph)
    onnx.checker.check_model(half)
    onnx.save(half, str(dst))


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
