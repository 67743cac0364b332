"""`edgeseg check`: one crafted graph per rule is reported in one line; edgeseg's own fp32, fp16 and int8 bundles
pass for every TensorRT version the support table describes."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeseg.export.tensorrt_check import check, check_model
from edgeseg.export.tensorrt_support import versions
from tests.conftest import run_cli


def model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, elem=TensorProto.FLOAT, shape=(1, 3, 8, 8)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def dq_graph(x, scale, zp=None, axis=None, into_conv=False):
    """x (an initializer) -> DequantizeLinear [-> Conv weight]."""
    inits = [init("x", x), init("s", scale)] + ([init("zp", zp)] if zp is not None else [])
    attrs = {"axis": axis} if axis is not None else {}
    nodes = [helper.make_node("DequantizeLinear", ["x", "s"] + (["zp"] if zp is not None else []), ["w"], name="dq", **attrs)]
    if into_conv:
        nodes.append(helper.make_node("Conv", ["img", "w"], ["y"], name="conv"))
        return model(nodes, [vi("img", shape=(1, 2, 8, 8))], [vi("y", shape=(1, 4, 6, 6))], inits)
    return model(nodes, [], [vi("w", shape=np.shape(x))], inits)


def errors(m, version="10.3"):
    return [f for f in check_model(m, "m.onnx", version) if f.error]


CASES = {
    "int32 dequantize": (dq_graph(np.arange(4, dtype=np.int32), np.float32(0.1)), "INT32"),
    "uint8 dequantize": (dq_graph(np.arange(4, dtype=np.uint8), np.float32(0.1), np.uint8(0)), "UINT8"),
    "non-zero zero point": (dq_graph(np.arange(4, dtype=np.int8), np.float32(0.1), np.int8(3)), "zero point"),
    "weights on axis 1": (dq_graph(np.ones((4, 2, 3, 3), np.int8), np.full(2, 0.1, np.float32), np.zeros(2, np.int8), axis=1,
                                   into_conv=True), "axis 1"),
    "unsupported operator": (model([helper.make_node("Unique", ["a"], ["b"], name="u")], [vi("a", shape=(4,))],
                                   [vi("b", shape=(4,))]), "Unique is not supported"),
    "custom domain": (model([helper.make_node("Fancy", ["a"], ["b"], name="f", domain="com.example")],
                            [vi("a", shape=(4,))], [vi("b", shape=(4,))]), "custom operator"),
    "old opset": (model([helper.make_node("Relu", ["a"], ["b"], name="r")], [vi("a")], [vi("b")], opset=8), "opset 8"),
    "opset-20 GridSample spelling": (model([helper.make_node("GridSample", ["a", "grid"], ["b"], name="gs", mode="linear")],
                                           [vi("a"), vi("grid", shape=(1, 8, 8, 2))], [vi("b")], opset=20), "'linear'"),
    "cubic resize": (model([helper.make_node("Resize", ["a", "", "sc"], ["b"], name="rs", mode="cubic")], [vi("a")],
                           [vi("b", shape=(1, 3, 16, 16))], [init("sc", np.array([1, 1, 2, 2], np.float32))]), "cubic"),
    "uint8 quantize": (model([helper.make_node("QuantizeLinear", ["a", "s", "zp"], ["q"], name="q")], [vi("a")],
                             [vi("q", TensorProto.UINT8)], [init("s", np.float32(0.1)), init("zp", np.uint8(128))]), "uint8"),
    "int64 to uint8 cast": (model([helper.make_node("ArgMax", ["a"], ["i"], name="am", axis=1, keepdims=0),
                                   helper.make_node("Cast", ["i"], ["b"], name="c", to=TensorProto.UINT8)], [vi("a")],
                                  [vi("b", TensorProto.UINT8, (1, 8, 8))]), "INT64 to UINT8"),
    "uint8 inside the graph": (model([helper.make_node("Cast", ["a"], ["u"], name="c", to=TensorProto.UINT8),
                                      helper.make_node("Cast", ["u"], ["b"], name="back", to=TensorProto.FLOAT)],
                                     [vi("a")], [vi("b")]), "inside the graph"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_is_reported(case):
    m, needle = CASES[case]
    found = errors(m)
    assert found and needle in found[0].line("10.3"), [f.line("10.3") for f in found]
    assert "\n" not in found[0].line("10.3")


def test_the_gridsample_spelling_is_only_a_problem_before_10_4():
    m, _ = CASES["opset-20 GridSample spelling"]
    assert errors(m, "10.3") and not errors(m, "10.13") and not errors(m, "11")


def test_restricted_constructs_are_warnings():
    dynamic = model([helper.make_node("Relu", ["a"], ["b"], name="r")], [vi("a", shape=("n", 3, 8, 8))], [vi("b", shape=("n", 3, 8, 8))])
    found = check_model(dynamic, "d.onnx", "10.13")
    assert found and not any(f.error for f in found) and "dynamic" in found[0].why


def test_a_clean_graph_has_no_findings():
    m = model([helper.make_node("Relu", ["a"], ["b"], name="r")], [vi("a")], [vi("b")])
    assert all(check_model(m, "ok.onnx", v) == [] for v in versions())


def test_cli_rejects_an_int32_dequantize_in_one_line(tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(CASES["int32 dequantize"][0], str(path))
    r = run_cli("check", str(path), "--tensorrt", "10.3")
    assert r.returncode == 1
    lines = [line for line in r.stdout.splitlines() if line.startswith("TensorRT 10.3: error")]
    assert len(lines) == 1 and "INT32" in lines[0] and "QuantizeBias=False" in lines[0]


def test_the_fp32_bundle_passes_for_every_version(tiny_set):
    report = check(tiny_set[1])
    assert set(report) == set(versions()) and not any(f.error for found in report.values() for f in found)
    assert run_cli("check", str(tiny_set[1])).returncode == 0
