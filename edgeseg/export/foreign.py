"""``edgeseg export FILE.onnx | package.module:factory``: a bundle from a model edgeseg did not build.

The model runs once on a real frame to find the output that holds the segmentation (``foreign_model``);
the bundle's graph keeps only that output, at a static input size. A graph whose spatial size is dynamic
(and every import spec) also gets the backbone at each downscale D, so every operating point can run; a
graph fixed at one size gets D=1 only. The parity reference is the original: the ONNX file as given (at the
fixed size) or the PyTorch module. The manifest states the whole pre- and post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from edgeseg.bundle import Bundle, graph_key, sha256_file
from edgeseg.bundle.manifest import RESIZE, RESIZE_LINEAR, UPSAMPLE, UPSAMPLE_LABELS, GraphEntry, InputSpec, Manifest, OutputSpec
from edgeseg.calibration.frames import read_frames
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.assemble import (
    ExportOptions,
    Gate,
    backbone_miou,
    calibration_source,
    check_common,
    export_and_gate,
    finish,
    in_temp_dir,
    producer,
    progress,
)
from edgeseg.export.class_table import read_classes
from edgeseg.export.foreign_model import ImageInput, OutputChoice, choose_output, image_input, load_onnx, with_input_size
from edgeseg.export.graphs import scaled_size
from edgeseg.export.import_spec import SelectOutput, build_module, is_import_spec, named_outputs
from edgeseg.export.keyframe_graphs import keyframe_entries
from edgeseg.export.onnx_io import export_onnx
from edgeseg.export.parity import Parity, Reference, torch_reference
from edgeseg.runtime.engines.preprocess import IMAGENET_MEAN, IMAGENET_STD, prepare

# Flags that describe a foreign model: flag -> its ExportOptions field
FLAGS = {"--classes": "classes", "--channels": "channels", "--scale": "scale", "--mean": "mean", "--std": "std", "--layout": "layout",
         "--output": "output", "--weights": "weights", "--kwargs": "kwargs", "--resize": "resize"}
OUTPUT_NAME = {"scores": "scores", "labels": "labels"}  # the output's name in graphs edgeseg exports from PyTorch
RESIZE_MODES = {"area": RESIZE, "linear": RESIZE_LINEAR}  # --resize -> manifest input.resize


def is_foreign(model: str) -> bool:
    """Whether MODEL names an ONNX file or an import spec rather than an edgeseg checkpoint."""
    return model.lower().endswith(".onnx") or is_import_spec(model)


@dataclass
class _Source:
    """The model at D=1: how to feed it and which output to keep."""

    input: InputSpec
    output: OutputChoice
    downscales: tuple[float, ...]
    not_exported: dict[str, str] = field(default_factory=dict)  # graph key -> why (the manifest's source.skipped)


def check_foreign(opts: ExportOptions) -> None:
    check_common(opts)
    if opts.foreign.classes is None:
        raise UsageError(f"{opts.model} is not an edgeseg checkpoint: pass --classes camvid | cityscapes | FILE "
                         "(one class a line, in the model's class-id order)")
    if opts.foreign.channels not in ("rgb", "bgr"):
        raise UsageError(f"--channels {opts.foreign.channels!r}: choose rgb or bgr")
    if not opts.foreign.scale > 0:
        raise UsageError(f"--scale {opts.foreign.scale}: must be > 0 (255: pixels become 0..1; 1: raw 0..255)")
    for flag, values in (("--mean", opts.foreign.mean), ("--std", opts.foreign.std)):
        if values is not None and len(values) != 3:
            raise UsageError(f"{flag} takes 3 values R,G,B; got {len(values)}")
    if opts.foreign.std is not None and min(abs(v) for v in opts.foreign.std) == 0:
        raise UsageError("--std: a standard deviation of 0 divides by zero; give three non-zero values")
    if opts.foreign.layout is not None and opts.foreign.layout.lower() not in ("nchw", "nhwc"):
        raise UsageError(f"--layout {opts.foreign.layout!r}: choose nchw or nhwc")
    if opts.size is not None and min(opts.size) < 8:
        raise UsageError(f"--size {opts.size[0]}x{opts.size[1]}: too small")
    onnx_file = opts.model.lower().endswith(".onnx")
    for flag, value in (("--weights", opts.foreign.weights), ("--kwargs", opts.foreign.kwargs)):
        if onnx_file and value is not None:
            raise UsageError(f"{flag} applies to an import spec (package.module:factory), not to an ONNX file")


def export_foreign(opts: ExportOptions) -> Path:
    """Export and gate a foreign model; returns the bundle folder (edgeseg.export.bundle.export_bundle dispatches here)."""
    check_foreign(opts)
    classes = read_classes(opts.foreign.classes or "")
    calib = calibration_source(opts)
    needed = opts.parity_frames + (opts.calib_frames if opts.precision == "int8" else 0)
    frames = list(read_frames(calib, needed))
    if len(frames) < needed:
        raise UsageError(f"{calib} gave {len(frames)} frames; the gates need {opts.parity_frames} (+ {opts.calib_frames} "
                         "for int8); pass a longer --calib source")
    if opts.model.lower().endswith(".onnx"):
        model = _OnnxModel(Path(opts.model), opts)
    else:
        model = _TorchModel(opts)
    source = model.inspect(frames[0], len(classes.names), opts.foreign.classes or "")

    def build(tmp: Path) -> None:
        steps = progress(opts, len(source.downscales), 1)
        graphs: dict[str, GraphEntry] = {}
        parity: dict[str, Parity] = {}
        skipped: dict[str, str] = dict(source.not_exported)
        if source.not_exported:
            print(f"edgeseg: {next(iter(source.not_exported.values()))}")
        for d in source.downscales:
            key = graph_key("backbone", d)
            stem = key.replace("@", "_d")
            size = scaled_size(tuple(source.input.size), d)  # type: ignore[arg-type]
            feeds = [{source.input.name: prepare(rgb, source.input, size)} for rgb in frames]
            job = Gate(key, "backbone", stem, [source.input.name], None, d, source.output.kind, source.output.layout)
            try:
                graphs[key], parity[key] = export_and_gate(opts, tmp, job, partial(model.write, size=size, output=source.output),
                                                           feeds[:opts.parity_frames],
                                                           feeds[opts.parity_frames:], steps)
            except EdgesegError as exc:
                if d == 1.0 or (tmp / f"{stem}.onnx").exists():  # only a size the model cannot take is skipped
                    raise
                skipped[key] = str(exc)
                steps.update(2 + (opts.precision != "fp32"))
        for key, why in skipped.items():
            if key not in source.not_exported:
                print(f"edgeseg: no {key} graph: {why}")
        out = source.output
        manifest = Manifest(
            producer=producer(), source={**model.describe(), "skipped": skipped},
            classes=classes, input=source.input,
            output=OutputSpec(name=out.name, kind=out.kind, stride=out.stride, upsample=UPSAMPLE if out.kind == "scores" else UPSAMPLE_LABELS,
                              layout=out.layout, features=""),
            precision=opts.precision, opset=opts.opset, graphs=graphs)
        manifest.graphs.update(keyframe_entries(tmp, manifest))
        bundle = Bundle(tmp, manifest)
        steps.set_postfix_str("backbone mIoU")
        backbone_miou(opts, bundle, parity, None, default_labels=(opts.foreign.classes or "").lower() == "camvid")
        steps.update()
        finish(opts, tmp, bundle, parity, steps)

    return in_temp_dir(opts.out, build)


def _input_spec(opts: ExportOptions, name: str, layout: str, dtype: str, size: tuple[int, int]) -> InputSpec:
    f = opts.foreign
    if dtype == "uint8":  # the graph normalises: it gets the resized frame as it is
        if f.mean is not None or f.std is not None or f.scale != 255.0:
            raise UsageError(f"input {name!r} is uint8: the graph takes raw pixels, so --scale/--mean/--std do not apply")
        return InputSpec(size=list(size), mean=[0.0] * 3, std=[1.0] * 3, layout=layout, channels=f.channels, scale=1.0,
                         name=name, dtype=dtype, resize=RESIZE_MODES[f.resize])
    return InputSpec(size=list(size), mean=list(f.mean or IMAGENET_MEAN), std=list(f.std or IMAGENET_STD), layout=layout,
                     channels=f.channels, scale=float(f.scale), name=name, dtype=dtype, resize=RESIZE_MODES[f.resize])


class _OnnxModel:
    """A foreign ONNX file: the original (at a fixed size) is the reference; the bundle keeps its one output."""

    def __init__(self, path: Path, opts: ExportOptions):
        self.path, self.opts = path, opts
        self.model = load_onnx(path)
        self.image: ImageInput = image_input(self.model, path, opts.foreign.layout)
        self._fixed: dict[tuple[int, int], tuple[onnx.ModelProto, ort.InferenceSession]] = {}

    def inspect(self, rgb: np.ndarray, n_classes: int, classes_flag: str) -> _Source:
        size = self.image.size
        if size is None and self.opts.size is None:
            raise UsageError(f"{self.path}: input {self.image.name!r} has a dynamic spatial size; pass --size HxW")
        if size is not None and self.opts.size is not None and tuple(self.opts.size) != size:
            raise UsageError(f"--size {self.opts.size[0]}x{self.opts.size[1]}: {self.path} is fixed at {size[0]}x{size[1]}")
        size = size or tuple(self.opts.size)  # type: ignore[arg-type]
        spec = _input_spec(self.opts, self.image.name, self.image.layout, self.image.dtype, size)
        _, session = self._at(size)
        names = [o.name for o in session.get_outputs()]
        outputs = dict(zip(names, self._run(session, names, {self.image.name: prepare(rgb, spec, size)})))
        choice = choose_output(outputs, self.opts.foreign.output, n_classes, size, self.image.layout, classes_flag)
        if self.image.size is None:
            return _Source(spec, choice, tuple(self.opts.downscales))
        fixed = (f"{self.path.name} has a static input size ({size[0]}x{size[1]}), which a smaller downscale cannot "
                 "change, so only D=1 was exported")
        return _Source(spec, choice, (1.0,), {graph_key("backbone", d): fixed for d in self.opts.downscales if d != 1.0})

    def _at(self, size: tuple[int, int]) -> tuple[onnx.ModelProto, ort.InferenceSession]:
        """The original graph fixed at ``size`` and an ONNX Runtime session of it (made once per size)."""
        if size not in self._fixed:
            fixed = with_input_size(self.model, self.image, size)
            try:
                session = ort.InferenceSession(fixed.SerializeToString(), providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise UsageError(f"ONNX Runtime cannot load {self.path} at {size[0]}x{size[1]}: {str(exc).splitlines()[0]}") from None
            self._fixed[size] = fixed, session
        return self._fixed[size]

    def _run(self, session: ort.InferenceSession, names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return session.run(names, feed)
        except Exception as exc:
            raise UsageError(f"{self.path} failed on a frame: {str(exc).splitlines()[0]}") from None

    def write(self, dest: Path, size: tuple[int, int], output: OutputChoice) -> Reference:
        """The graph at ``size`` with only ``output``, written to ``dest``; returns the original as the reference."""
        fixed, session = self._at(size)

        def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
            return self._run(session, [output.name], feed)

        shape = run({self.image.name: np.zeros(session.get_inputs()[0].shape,
                                                np.uint8 if self.image.dtype == "uint8" else np.float32)})[0].shape
        # the graph runs at this size: keep only the output the runtime reads, with the static shape it ran with
        pruned = onnx.utils.Extractor(fixed).extract_model([self.image.name], [output.name])
        for dim, v in zip(pruned.graph.output[0].type.tensor_type.shape.dim, shape):  # shape inference may not say
            dim.Clear()
            dim.dim_value = int(v)
        onnx.checker.check_model(pruned)
        onnx.save(pruned, str(dest))
        return run

    def describe(self) -> dict[str, Any]:
        return {"model": str(self.path.resolve()), "sha256": sha256_file(self.path), "kind": "onnx"}


class _TorchModel:
    """An import spec: the module exported by torch at each size; the module itself is the reference."""

    def __init__(self, opts: ExportOptions):
        self.opts = opts
        if opts.size is None:
            raise UsageError(f"{opts.model}: a PyTorch module has no fixed input size; pass --size HxW")
        if opts.foreign.layout is not None and opts.foreign.layout.lower() != "nchw":
            raise UsageError("--layout nhwc: PyTorch modules take NCHW images")
        self.module = build_module(opts.model, opts.foreign.kwargs, opts.foreign.weights)

    @torch.no_grad()
    def inspect(self, rgb: np.ndarray, n_classes: int, classes_flag: str) -> _Source:
        size = tuple(self.opts.size)  # type: ignore[arg-type]
        spec = _input_spec(self.opts, "image", "NCHW", "float32", size)  # type: ignore[arg-type]
        try:
            raw = self.module(torch.from_numpy(prepare(rgb, spec, size)))  # type: ignore[arg-type]
        except Exception as exc:
            raise UsageError(f"{self.opts.model} failed on a {size[0]}x{size[1]} frame: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        outputs = {k: v.numpy() for k, v in named_outputs(raw).items()}
        choice = choose_output(outputs, self.opts.foreign.output, n_classes, size, "NCHW", classes_flag)  # type: ignore[arg-type]
        self.selected = SelectOutput(self.module, choice.name).eval()
        kept = OutputChoice(OUTPUT_NAME[choice.kind], choice.kind, choice.layout, choice.stride)
        return _Source(spec, kept, tuple(self.opts.downscales))

    def write(self, dest: Path, size: tuple[int, int], output: OutputChoice) -> Reference:
        example = (torch.zeros(1, 3, *size),)
        try:
            with torch.no_grad():
                self.selected(*example)
        except Exception as exc:
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise UsageError(f"the model does not run at {size[0]}x{size[1]} ({type(exc).__name__}"
                             + (f": {why})" if why else ")")) from None
        export_onnx(self.selected, example, dest, ["image"], [output.name], self.opts.opset)
        return torch_reference(self.selected, ["image"])

    def describe(self) -> dict[str, Any]:
        weights = self.opts.foreign.weights
        return {"model": self.opts.model, "kind": "pytorch", "kwargs": self.opts.foreign.kwargs,
                "weights": str(Path(weights).resolve()) if weights else None, "sha256": sha256_file(weights) if weights else None}
