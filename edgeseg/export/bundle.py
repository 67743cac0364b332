"""Checkpoint set -> bundle folder: ONNX graphs, manifest.json, parity.json, written atomically.

The bundle is assembled in a temporary sibling folder and renamed into place only after every graph
passed its parity gate (or --allow-parity-failure was given), so an interrupted or failed export
never leaves a half-written bundle behind.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import torch
from tqdm import tqdm

from edgeseg import __version__
from edgeseg._fs import default_mode
from edgeseg.calibration.frames import read_frames
from edgeseg.data.evaluate import evaluate_folder
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.graphs import DOWNSCALES, graph_specs, real_feeds
from edgeseg.export.onnx_io import describe_io, example_inputs, export_onnx
from edgeseg.export.parity import Parity, measure, ort_session
from edgeseg.models.checkpoint import HEADS, load_checkpoint, load_heads, resolve_model_dir
from edgeseg.models.predict import TorchSegmenter
from edgeseg.runtime.bundle import FORMAT_VERSION, MANIFEST, load_bundle, sha256_file
from edgeseg.runtime.segment import BundleSegmenter

SHARED_CAMVID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "camvid"


class ParityError(EdgesegError):
    """A graph failed its parity gate."""


@dataclass
class ExportOptions:
    model: str
    out: str
    precision: str = "fp32"
    calib: str | None = None  # frames for parity (default CamVid val)
    calib_frames: int = 16
    heads: tuple[str, ...] = HEADS
    opset: int = 18
    allow_parity_failure: bool = False
    miou_images: str | None = None  # backbone mIoU check (default CamVid test when present)
    miou_labels: str | None = None
    progress: bool = True
    downscales: tuple[float, ...] = DOWNSCALES
    notes: dict[str, Any] = field(default_factory=dict)


def default_source(path: str | None, sub: str) -> str | None:
    if path:
        return path
    candidate = SHARED_CAMVID / sub
    return str(candidate) if candidate.is_dir() else None


def export_bundle(opts: ExportOptions) -> Path:
    """Export and gate every graph; returns the bundle folder. Raises ParityError on a failed gate."""
    if opts.precision != "fp32":
        raise UsageError(f"precision {opts.precision!r} is not available yet in this version; use fp32")
    backbone_path, folder = resolve_model_dir(opts.model)
    backbone, ckpt = load_checkpoint(backbone_path)
    all_heads = load_heads(folder)
    missing = [h for h in opts.heads if h not in all_heads]
    if missing:
        raise UsageError(f"no checkpoint for head(s) {', '.join(missing)} next to {backbone_path}; "
                         "train them or pass --heads none / a shorter list")
    heads = {h: all_heads[h][0] for h in opts.heads}
    calib = default_source(opts.calib, "val")
    if calib is None:
        raise UsageError("no --calib source given and CamVid val is not in ../shared/data; pass --calib FOLDER|VIDEO")
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
    steps = tqdm(total=2 * len(specs) + 2, desc="export", unit="step", disable=not opts.progress)
    steps.set_postfix_str("reading frames")
    feeds = real_feeds(specs, backbone, ckpt, read_frames(calib, opts.calib_frames + 2))
    steps.update()
    graphs: dict[str, Any] = {}
    parity: dict[str, Any] = {}
    failures = []
    for spec in specs:
        if not feeds[spec.key]:
            raise UsageError(f"{calib} gave too few frames to build inputs for {spec.key}; pass a longer --calib source")
        steps.set_postfix_str(f"export {spec.key}")
        fname = spec.key.replace("@", "_d") + ".onnx"
        export_onnx(spec.module, example_inputs(feeds[spec.key][0], spec.input_names), tmp / fname,
                    spec.input_names, spec.output_names, opts.opset)
        steps.update()
        steps.set_postfix_str(f"parity {spec.key}")
        result = measure(spec.module, ort_session(tmp / fname), feeds[spec.key], spec.input_names, opts.precision)
        inputs, outputs = describe_io(tmp / fname)
        graphs[spec.key] = {"file": fname, "role": spec.name, "downscale": spec.downscale, "precision": opts.precision,
                            "sha256": sha256_file(tmp / fname), "inputs": inputs, "outputs": outputs}
        parity[spec.key] = result
        if not result.passed:
            failures.append(f"{spec.key}: agreement {result.pixel_agreement:.3f}% < {result.threshold}%")
        steps.update()
    manifest = {
        "format_version": FORMAT_VERSION,
        "producer": {"edgeseg": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__, "python": platform.python_version()},
        "source": {"checkpoint": str(backbone_path), "sha256": sha256_file(backbone_path),
                   "arch": ckpt["arch"], "config": ckpt.get("config", {})},
        "classes": {"names": ckpt["class_names"], "palette": ckpt["palette"], "ignore_id": ckpt["ignore_id"]},
        "input": {"size": list(ckpt["input_size"]), "channel_order": "RGB", "layout": "NCHW",
                  "mean": ckpt["mean"], "std": ckpt["std"]},
        "opset": opts.opset,
        "graphs": graphs,
        "engines": {},
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    steps.set_postfix_str("backbone mIoU")
    _backbone_miou(opts, backbone, ckpt, tmp, parity)
    steps.update()
    steps.close()
    (tmp / "parity.json").write_text(json.dumps({k: v.to_json() for k, v in parity.items()}, indent=2))
    if failures and not opts.allow_parity_failure:
        raise ParityError("parity gate failed (no bundle written): " + "; ".join(failures) +
                          ". Use a higher precision or --allow-parity-failure to keep it anyway")


def _backbone_miou(opts: ExportOptions, backbone: torch.nn.Module, ckpt: dict, tmp: Path, parity: dict[str, Parity]) -> None:
    images, labels = default_source(opts.miou_images, "test"), default_source(opts.miou_labels, "testannot")
    if images is None or labels is None:
        return
    names, ignore = ckpt["class_names"], ckpt["ignore_id"]
    ref = evaluate_folder(TorchSegmenter(backbone, ckpt), images, labels, names, ignore, progress=False)
    got = evaluate_folder(BundleSegmenter(load_bundle(tmp)), images, labels, names, ignore, progress=False)
    parity["backbone"].miou_fp32 = ref["miou"]
    parity["backbone"].miou = got["miou"]


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
