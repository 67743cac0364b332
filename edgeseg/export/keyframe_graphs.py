"""A keyframe's pre- and post-processing as ONNX graphs (``pre``, ``pre@D``, ``post``), so that a GPU backend runs
the whole keyframe on the device: the frame goes up once as uint8 and labels come back as uint8
(``edgeseg.runtime.engines.device_chain``). Both take any frame size (dynamic H, W); they hold no weights.

- ``pre``: uint8 1xHxWx3 RGB -> the backbone's input: float, NCHW, the manifest's channel order, resized to the
  graph's size (linear, half-pixel centres), rounded to whole pixel values as OpenCV's uint8 resize is, then
  ``/ scale - mean, / std``. Labels agree with the host path (OpenCV) on 99.8-99.95% of CamVid pixels.
- ``post``: scores 1xCxhxw and the frame's (H, W) -> uint8 1xHxW labels: bilinear upsampling with half-pixel
  centres, then the first maximal class (``kernels.upsample_argmax``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeseg.bundle import graph_key, sha256_file
from edgeseg.bundle.manifest import KEYFRAME_FRAME as FRAME  # the keyframe graphs' tensors, named once
from edgeseg.bundle.manifest import KEYFRAME_LABELS as LABELS
from edgeseg.bundle.manifest import KEYFRAME_SIZE as SIZE
from edgeseg.bundle.manifest import GraphEntry, InputSpec, Manifest, OutputSpec
from edgeseg.export.onnx_io import describe_io


def supported(spec: InputSpec, output: OutputSpec) -> bool:
    """Whether the bundle's model is one these graphs serve: float NCHW input, NCHW class scores out."""
    return spec.dtype == "float32" and spec.layout == "NCHW" and output.kind == "scores" and output.layout == "NCHW"


def _const(name: str, values: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name))


def _model(nodes: list, inputs: list, outputs: list, name: str, opset: int) -> onnx.ModelProto:
    model = helper.make_model(helper.make_graph(nodes, name, inputs, outputs),
                              opset_imports=[helper.make_opsetid("", opset)], producer_name="edgeseg")
    onnx.checker.check_model(model, full_check=True)
    return model


def pre_graph(spec: InputSpec, size_hw: tuple[int, int], opset: int) -> onnx.ModelProto:
    """uint8 frame (any size) -> the backbone's input at ``size_hw``."""
    h, w = size_hw
    nodes = [helper.make_node("Cast", [FRAME], ["kf_f32"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["kf_f32"], ["kf_nchw"], perm=[0, 3, 1, 2])]
    x = "kf_nchw"
    if spec.channels == "bgr":
        nodes += [_const("kf_bgr_idx", np.array([2, 1, 0], np.int64)),
                  helper.make_node("Gather", [x, "kf_bgr_idx"], ["kf_bgr"], axis=1)]
        x = "kf_bgr"
    nodes += [_const("kf_sizes", np.array([1, 3, h, w], np.int64)),
              # linear both ways: OpenCV's area averaging when shrinking 2x exactly (half-pixel centres fall between
              # two pixels), close for other ratios; no antialias, which TensorRT's Resize does not take
              helper.make_node("Resize", [x, "", "", "kf_sizes"], ["kf_resized"], mode="linear",
                               coordinate_transformation_mode="half_pixel", antialias=0),
              helper.make_node("Round", ["kf_resized"], ["kf_pixels"])]
    x = "kf_pixels"
    if spec.scale != 1.0:
        nodes += [_const("kf_scale", np.array(1.0 / spec.scale, np.float32)),
                  helper.make_node("Mul", [x, "kf_scale"], ["kf_scaled"])]
        x = "kf_scaled"
    nodes += [_const("kf_mean", np.asarray(spec.mean, np.float32).reshape(1, 3, 1, 1)),
              _const("kf_std", np.asarray(spec.std, np.float32).reshape(1, 3, 1, 1)),
              helper.make_node("Sub", [x, "kf_mean"], ["kf_centred"]),
              helper.make_node("Div", ["kf_centred", "kf_std"], [spec.name])]
    frame = helper.make_tensor_value_info(FRAME, TensorProto.UINT8, [1, "H", "W", 3])
    out = helper.make_tensor_value_info(spec.name, TensorProto.FLOAT, [1, 3, h, w])
    return _model(nodes, [frame], [out], "edgeseg_pre", opset)


def post_graph(scores: str, classes: int, opset: int) -> onnx.ModelProto:
    """Scores (any size) and the frame's (H, W) -> uint8 labels at the frame's size."""
    nodes = [_const("kf_nc", np.array([1, classes], np.int64)),
             helper.make_node("Concat", ["kf_nc", SIZE], ["kf_sizes"], axis=0),
             helper.make_node("Resize", [scores, "", "", "kf_sizes"], ["kf_up"], mode="linear",
                              coordinate_transformation_mode="half_pixel"),
             helper.make_node("ArgMax", ["kf_up"], ["kf_argmax"], axis=1, keepdims=0, select_last_index=0),
             # through FLOAT: TensorRT converts to and from UINT8 only from and to FLOAT/HALF (exact below 2^24)
             helper.make_node("Cast", ["kf_argmax"], ["kf_class"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["kf_class"], [LABELS], to=TensorProto.UINT8)]
    inputs = [helper.make_tensor_value_info(scores, TensorProto.FLOAT, [1, classes, "h", "w"]),
              helper.make_tensor_value_info(SIZE, TensorProto.INT64, [2])]
    out = helper.make_tensor_value_info(LABELS, TensorProto.UINT8, [1, "H", "W"])
    return _model(nodes, inputs, [out], "edgeseg_post", opset)


def keyframe_entries(folder: Path, manifest: Manifest) -> dict[str, GraphEntry]:
    """Write ``pre`` (one per backbone graph, at its input size) and ``post`` into ``folder`` for the bundle that
    ``manifest`` describes; their manifest entries (role pre / post), none for a model these graphs do not serve."""
    spec, output = manifest.input, manifest.output
    if not supported(spec, output):
        return {}
    backbones = [g for g in manifest.graphs.values() if g.role == "backbone"]
    models = {graph_key("pre", g.downscale): (pre_graph(spec, spec.hw(g.shapes[spec.name]), manifest.opset), g.downscale)
              for g in backbones}
    models["post"] = (post_graph(output.name, len(manifest.classes.names), manifest.opset), 1.0)
    entries = {}
    for key, (model, downscale) in models.items():
        path = folder / f"{key.replace('@', '_d')}.onnx"
        onnx.save(model, str(path))
        inputs, outputs = describe_io(path)
        entries[key] = GraphEntry(role=key.split("@")[0], file=path.name, sha256=sha256_file(path), precision="fp32",
                                  inputs=inputs, outputs=outputs, downscale=downscale)
    return entries
