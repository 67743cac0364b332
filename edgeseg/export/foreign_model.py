"""Models edgeseg did not build, read as they are: a foreign ONNX graph's image input, and any model's outputs.

``image_input`` finds the one image input of an ONNX graph (name, layout, dtype, static size or not);
``choose_output`` picks the output that holds class scores or labels among what the model returned once
on a real frame, and says its kind, layout and stride. Both raise a one-line UsageError for what they cannot use.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgeseg.errors import UsageError

STRIDE_LIMIT = 64
CONVENTIONAL = ("out", "logits")  # torchvision's "out" (its "aux" is a training head), Hugging Face's "logits"


@dataclass(frozen=True)
class ImageInput:
    name: str
    layout: str  # NCHW | NHWC
    dtype: str  # float32 | uint8
    size: tuple[int, int] | None  # (H, W) when static


@dataclass(frozen=True)
class OutputChoice:
    name: str
    kind: str  # scores | labels
    layout: str  # NCHW | NHWC (scores)
    stride: int


_ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8"}


def load_onnx(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise UsageError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ... for corrupt files
        raise UsageError(f"{path} is not a valid ONNX model ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                         "export it again") from None
    return model


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value.type.tensor_type.shape.dim]


def image_input(model: onnx.ModelProto, path: Path, layout: str | None) -> ImageInput:
    """The graph's one image input; ``layout`` (nchw/nhwc) overrides what its shape suggests."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UsageError(f"{path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); edgeseg feeds one image input")
    value = inputs[0]
    dims = _dims(value)
    dtype = _ONNX_DTYPES.get(value.type.tensor_type.elem_type)
    if dtype is None:
        raise UsageError(f"{path}: input {value.name!r} is {onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)}; "
                         "edgeseg feeds float32 or uint8 images")
    if len(dims) != 4:
        raise UsageError(f"{path}: input {value.name!r} has shape {dims}; edgeseg feeds a batch of one image, 4 dimensions")
    chw, hwc = dims[1] == 3, dims[3] == 3
    if layout is None:
        if chw == hwc:
            raise UsageError(f"{path}: cannot tell the layout of input {value.name!r} (shape {dims}); pass --layout nchw or nhwc")
        layout = "NCHW" if chw else "NHWC"
    layout = layout.upper()
    channels = 1 if layout == "NCHW" else 3  # the axis --layout says holds the 3 colour channels
    if isinstance(dims[channels], int) and dims[channels] > 0 and dims[channels] != 3:
        fits, other = (hwc, "nhwc") if layout == "NCHW" else (chw, "nchw")
        seen = f"axis {4 - channels} is 3 and looks like the channels, so the graph is {other.upper()}" if fits else \
            "no axis of it is 3 colour channels"
        raise UsageError(f"--layout {layout.lower()} does not match {path}: input {value.name!r} has shape {dims}, whose "
                         f"axis {channels} ({dims[channels]}) would be the channels under {layout}, but {seen}; "
                         + (f"drop --layout or pass --layout {other}" if fits else
                            "edgeseg feeds 3-channel images: drop --layout or export a model with an RGB/BGR input"))
    h, w = (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])
    static = isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0
    return ImageInput(value.name, layout, dtype, (int(h), int(w)) if static else None)  # type: ignore[arg-type]


def with_input_size(model: onnx.ModelProto, image: ImageInput, size: tuple[int, int]) -> onnx.ModelProto:
    """A copy whose image input is fixed to a batch of 1 at ``size`` (static shapes: what TensorRT wants)."""
    fixed = copy.deepcopy(model)
    value = next(i for i in fixed.graph.input if i.name == image.name)
    shape = [1, 3, *size] if image.layout == "NCHW" else [1, *size, 3]
    for dim, v in zip(value.type.tensor_type.shape.dim, shape):
        dim.Clear()
        dim.dim_value = v
    for out in fixed.graph.output:  # stale symbolic output sizes would contradict the fixed input: make them unknown
        for dim in out.type.tensor_type.shape.dim:
            dim.Clear()
    return fixed


def stride_of(input_hw: tuple[int, int], output_hw: tuple[int, int]) -> int | None:
    """The whole stride s with output = ceil or floor of input / s on both axes, or None."""
    for s in range(1, STRIDE_LIMIT + 1):
        if all(o in (-(-i // s), i // s) for i, o in zip(input_hw, output_hw)):
            return s
    return None


def _describe(name: str, out: np.ndarray, n_classes: int, input_layout: str) -> tuple[str, str, tuple[int, int]] | None:
    """(kind, layout, (h, w)) when ``out`` can be the segmentation, else None."""
    if np.issubdtype(out.dtype, np.integer):
        squeezed = np.squeeze(out)
        return ("labels", "NCHW", squeezed.shape) if squeezed.ndim == 2 else None  # type: ignore[return-value]
    if out.ndim != 4 or out.shape[0] != 1:
        return None
    layouts = ["NCHW", "NHWC"] if input_layout == "NCHW" else ["NHWC", "NCHW"]
    for layout in layouts:
        c, hw = (out.shape[1], out.shape[2:]) if layout == "NCHW" else (out.shape[3], out.shape[1:3])
        if c == n_classes:
            return "scores", layout, (int(hw[0]), int(hw[1]))
    return None


def _channels(out: np.ndarray, input_layout: str) -> str:
    if out.ndim != 4:
        return f"shape {list(out.shape)}"
    return f"{out.shape[1] if input_layout == 'NCHW' else out.shape[3]} channels"


def choose_output(outputs: dict[str, np.ndarray], wanted: str | None, n_classes: int, input_hw: tuple[int, int],
                  input_layout: str, classes_flag: str) -> OutputChoice:
    """The output holding the segmentation: ``wanted`` (a name or an index), else the only candidate."""
    names = list(outputs)
    listing = ", ".join(f"{n} {list(v.shape)} {v.dtype}" for n, v in outputs.items())
    if wanted is not None:
        name = names[int(wanted)] if wanted.lstrip("-").isdigit() and -len(names) <= int(wanted) < len(names) else wanted
        if name not in outputs:
            raise UsageError(f"--output {wanted}: the model has no such output (it has: {listing})")
        found = _describe(name, outputs[name], n_classes, input_layout)
        if found is None:
            raise UsageError(f"--output {name}: it has {_channels(outputs[name], input_layout)}, --classes {classes_flag} has "
                             f"{n_classes}; pick the output with class scores (1 x {n_classes} x h x w) or labels (h x w integers)")
        candidates = {name: found}
    else:
        candidates = {n: d for n, v in outputs.items() if (d := _describe(n, v, n_classes, input_layout)) is not None}
        if len(candidates) > 1:
            preferred = [n for n in CONVENTIONAL if n in candidates]
            if not preferred:
                raise UsageError(f"several outputs can hold the segmentation ({', '.join(candidates)}); pick one with --output "
                                 f"NAME|INDEX (outputs: {listing})")
            candidates = {preferred[0]: candidates[preferred[0]]}
        if not candidates:
            if len(outputs) == 1:
                only = names[0]
                raise UsageError(f"output {only!r} has {_channels(outputs[only], input_layout)}, --classes {classes_flag} has "
                                 f"{n_classes}; pass the model's own class list to --classes")
            raise UsageError(f"no output has {n_classes} class channels (--classes {classes_flag}) or is a label map "
                             f"(outputs: {listing}); pass --classes to match the model, or --output")
    name, (kind, layout, hw) = next(iter(candidates.items()))
    stride = stride_of(input_hw, hw)
    if stride is None:
        raise UsageError(f"output {name!r} is {hw[0]}x{hw[1]} for a {input_hw[0]}x{input_hw[1]} input: not a whole stride "
                         f"(1..{STRIDE_LIMIT}) of it")
    return OutputChoice(name, kind, layout, stride)
