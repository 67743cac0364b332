"""fp16 and int8 bundles of the tiny model: file forms, Q/DQ encodings, fallbacks, and the gates."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgeseg.bundle import ORT_X86, load_bundle
from edgeseg.errors import UsageError
from edgeseg.export.bundle import export_bundle
from edgeseg.export.parity import Parity
from edgeseg.runtime.engines.segment import BundleSegmenter
from tests.conftest import run_cli, tiny_options


@pytest.fixture(scope="module")
def int8_bundle(tiny_root):
    return export_bundle(tiny_options(tiny_root, "bundle_int8", precision="int8", allow_parity_failure=True))


def activation_zero_points(path):
    """dtypes of the zero points of Q/DQ nodes that act on activations (not on constant weights)."""
    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    kinds = set()
    for n in model.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in inits and len(n.input) > 2:
            zp = numpy_helper.to_array(inits[n.input[2]])
            kinds.add((zp.dtype.name, int(zp.min()) if zp.dtype == np.int8 else None))
    return kinds


def test_int8_bundle_holds_symmetric_qdq_and_the_x86_twin(int8_bundle):
    bundle = load_bundle(int8_bundle)
    assert bundle.precision == "int8"
    bb = bundle.graphs["backbone"]
    assert bb.precision == "int8" and bb.file == "backbone.int8.onnx"
    assert set(bb.variants) == {ORT_X86, "fp32"} and bb.quantization is not None and bb.quantization["frames"] == 4
    assert activation_zero_points(bundle.graph_path("backbone")) == {("int8", 0)}  # what TensorRT needs
    assert {k for k, _ in activation_zero_points(bundle.graph_path("backbone", variant=ORT_X86))} == {"uint8"}
    assert bundle.graph_path("backbone", variant="auto").name == "backbone.int8.ort-x86.onnx"
    assert bb.inputs[0].dtype == "float32" and bb.outputs[0].dtype == "float32"


def test_int8_heads_are_quantized_or_fall_back_with_the_reason(int8_bundle):
    manifest = json.loads((int8_bundle / "manifest.json").read_text())
    parity = json.loads((int8_bundle / "parity.json").read_text())
    for key in ("refiner", "stgru", "netwarp", "gcrf"):
        entry = manifest["graphs"][key]
        if entry["precision"] == "int8":
            assert parity[key]["passed"] and parity[key]["pixel_agreement"] >= 98.0
            assert parity[key]["variants"][ORT_X86]["passed"]
        else:  # fell back: the fp32 graph, gated at fp32, with the int8 failure in the manifest
            assert entry["file"] == f"{key}.onnx" and "int8 failed its gate" in entry["fallback"]
            assert parity[key]["precision"] == "fp32" and parity[key]["passed"]
            assert not (int8_bundle / f"{key}.int8.onnx").exists()
    bb = parity["backbone"]
    assert bb["miou"] is not None and bb["variants"][ORT_X86]["miou"] is not None
    assert bb["variants"][ORT_X86]["miou_fp32"] == bb["miou_fp32"]


def test_int8_twin_runs_close_to_the_symmetric_graph(int8_bundle, tiny_root):
    import cv2
    bundle = load_bundle(int8_bundle)
    rgb = cv2.cvtColor(cv2.imread(str(tiny_root / "frames" / "000.png")), cv2.COLOR_BGR2RGB)
    a = BundleSegmenter(bundle, variant=None)(rgb)
    b = BundleSegmenter(bundle, variant=ORT_X86)(rgb)
    c = BundleSegmenter(bundle, variant="fp32")(rgb)
    assert (a == c).mean() > 0.9 and (b == c).mean() > 0.9


def test_fp16_bundle(tiny_root):
    out = export_bundle(tiny_options(tiny_root, "bundle_fp16", precision="fp16", heads=("stgru", "gcrf")))
    bundle = load_bundle(out)
    parity = json.loads((out / "parity.json").read_text())
    for key in ("backbone", "stgru", "gcrf"):
        entry = bundle.graphs[key]
        assert entry.precision == "fp16" and parity[key]["pixel_agreement"] >= 99.5
        model = onnx.load(str(bundle.graph_path(key)))
        assert {v.type.tensor_type.elem_type for v in model.graph.input} == {onnx.TensorProto.FLOAT}
        assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
        # sensitive ops (STGRU's softmax, the CG reductions and divisions) are computed in fp32
        fp32 = {v.name for v in model.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
        for n in model.graph.node:
            if n.op_type in ("Softmax", "ReduceSum", "Div") and n.output[0] in {v.name for v in model.graph.value_info}:
                assert n.output[0] in fp32, (key, n.op_type)


def test_miou_gate_for_int8():
    p = Parity("int8", 0.1, 0.01, 99.0, 4, 98.0, True, miou_fp32=60.0)
    p.set_miou(59.2)
    assert p.passed and p.failure is None
    p.set_miou(58.5)
    assert not p.passed and "more than 1.0 below fp32" in p.failure
    p16 = Parity("fp16", 0.1, 0.01, 99.9, 4, 99.5, True, miou_fp32=60.0)
    p16.set_miou(50.0)  # no mIoU limit at fp16: only agreement gates it
    assert p16.passed


def test_bad_precision_options_fail_before_any_work(tiny_root, tmp_path):
    with pytest.raises(UsageError, match="multiples of 32"):
        export_bundle(tiny_options(tiny_root, str(tmp_path / "x"), size=(100, 96)))
    r = run_cli("export", str(tiny_root / "model"), "--out", str(tmp_path / "y"), "--precision", "int4")
    assert r.returncode == 2 and "int4" in r.stderr and not (tmp_path / "y").exists()


def test_int8_and_fp16_bundles_pass_the_tensorrt_check(int8_bundle, tiny_root):
    from edgeseg.export.tensorrt_check import check
    fp16 = export_bundle(tiny_options(tiny_root, "bundle_fp16_check", precision="fp16", heads=("refiner", "stgru")))
    for bundle in (int8_bundle, fp16):
        report = check(bundle)
        assert not [f.line(v) for v, found in report.items() for f in found if f.error]


def test_the_int8_graph_is_in_tensorrt_form(int8_bundle):
    """Float biases (no INT32 DequantizeLinear), Q/DQ on every Conv's input and weight, weights per channel on axis 0."""
    bundle = load_bundle(int8_bundle)
    model = onnx.load(str(bundle.graph_path("backbone")))
    inits = {t.name: t for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert dq and not [n.name for n in dq if n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.INT32]
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        data, weight = producers.get(conv.input[0]), producers.get(conv.input[1])
        assert data is not None and data.op_type == "DequantizeLinear", conv.name
        assert weight is not None and weight.op_type == "DequantizeLinear", conv.name
        assert {a.name: a.i for a in weight.attribute}.get("axis", 0) == 0
        assert len(conv.input) < 3 or conv.input[2] in inits and inits[conv.input[2]].data_type == onnx.TensorProto.FLOAT
