"""Checkpoint set (or any model: ``edgeseg.export.foreign``) -> bundle folder: ONNX graphs, manifest.json,
parity.json, written atomically.

The bundle is assembled in a temporary sibling folder and renamed into place only after every graph
passed its parity gate (or --allow-parity-failure was given), so an interrupted or failed export
never leaves a half-written bundle behind (``edgeseg.export.assemble``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgeseg.bundle import Bundle, sha256_file
from edgeseg.bundle.manifest import Classes, GraphEntry, InputSpec, Manifest, OutputSpec, logits_stride
from edgeseg.calibration.frames import read_frames
from edgeseg.errors import UsageError
from edgeseg.export import attach, foreign
from edgeseg.export.assemble import (
    PRECISIONS,
    ExportOptions,
    ForeignOptions,
    ParityError,
    backbone_miou,
    calibration_source,
    check_common,
    default_calibration,
    default_source,
    finish,
    gate_torch_graphs,
    in_temp_dir,
    producer,
    progress,
)
from edgeseg.export.graphs import graph_specs, real_feeds, torch_outputs
from edgeseg.export.keyframe_graphs import keyframe_entries
from edgeseg.export.tile_graph import add_tile_feeds, add_tile_spec, mark_tile_graph
from edgeseg.models.checkpoint import load_checkpoint, load_heads, resolve_model_dir
from edgeseg.models.predict import TorchSegmenter
from edgeseg.runtime.fusion import head_names

__all__ = ["PRECISIONS", "ExportOptions", "ForeignOptions", "ParityError", "check_options", "default_calibration", "default_source", "export_bundle"]


def check_options(opts: ExportOptions) -> None:
    """Reject bad options before any work is done."""
    check_common(opts)
    if opts.size is not None and (min(opts.size) < 64 or any(s % 32 for s in opts.size)):
        raise UsageError(f"--size {opts.size[0]}x{opts.size[1]}: height and width must be multiples of 32, >= 64")
    given = [flag for flag, name in foreign.FLAGS.items() if getattr(opts.foreign, name) != getattr(ForeignOptions(), name)]
    if given:
        raise UsageError(f"{', '.join(given)} describe(s) a model edgeseg did not build (FILE.onnx or package.module:factory); "
                         f"{opts.model} is an edgeseg checkpoint, whose manifest says all of it")


def export_bundle(opts: ExportOptions) -> Path:
    """Export and gate every graph; returns the bundle folder. Raises ParityError on a failed gate."""
    if foreign.is_foreign(opts.model):
        return foreign.export_foreign(opts)
    if attach.is_bundle(opts.model):
        return attach.attach_heads(opts)
    if opts.heads_from:
        raise UsageError(f"--heads-from adds heads to a bundle; {opts.model} is a checkpoint, whose heads lie next to it")
    check_options(opts)
    backbone_path, folder = resolve_model_dir(opts.model)
    backbone, ckpt = load_checkpoint(backbone_path)
    if opts.size is not None:
        ckpt = {**ckpt, "input_size": list(opts.size)}
    all_heads = load_heads(folder)
    # default: the registered heads this folder has checkpoints for (a head registered later does not stop an
    # existing checkpoint folder from exporting); named ones must be there
    wanted = [h for h in head_names() if h in all_heads] if opts.heads is None else opts.heads
    missing = [h for h in wanted if h not in all_heads]
    if missing:
        raise UsageError(f"no checkpoint for head(s) {', '.join(missing)} next to {backbone_path}; "
                         "train them or pass --heads none / a shorter list")
    heads = {h: all_heads[h][0] for h in wanted}
    calib = calibration_source(opts)
    return in_temp_dir(opts.out, lambda tmp: _build(opts, backbone, ckpt, heads, backbone_path, calib, tmp))


def _build(opts: ExportOptions, backbone: torch.nn.Module, ckpt: dict, heads: dict[str, torch.nn.Module],
           backbone_path: Path, calib: str, tmp: Path) -> None:
    specs = graph_specs(backbone, heads, opts.downscales)
    grid = add_tile_spec(specs, tuple(ckpt["input_size"]), opts.refiner_tiles)
    steps = progress(opts, len(specs), 2)
    steps.set_postfix_str("reading frames")
    n_parity = opts.parity_frames + 2  # +2: the GCRF window needs 3 frames for its first feed
    frames = list(read_frames(calib, n_parity + (opts.calib_frames if opts.precision == "int8" else 0)))
    outputs = torch_outputs(backbone, ckpt)
    parity_feeds = real_feeds(specs, outputs, ckpt, frames[:n_parity])
    calib_feeds = real_feeds(specs, outputs, ckpt, frames[n_parity:]) if opts.precision == "int8" else {}
    add_tile_feeds(grid, specs, parity_feeds, calib_feeds)
    steps.update()
    graphs, parity = gate_torch_graphs(opts, tmp, specs, parity_feeds, calib_feeds, steps)
    mark_tile_graph(graphs, grid)
    manifest = _manifest(opts, ckpt, backbone_path, sorted(heads), graphs)
    manifest.graphs.update(keyframe_entries(tmp, manifest))
    bundle = Bundle(tmp, manifest)  # in memory: written once, last
    steps.set_postfix_str("backbone mIoU")
    backbone_miou(opts, bundle, parity, TorchSegmenter(backbone, ckpt))
    steps.update()
    finish(opts, tmp, bundle, parity, steps)


def _manifest(opts: ExportOptions, ckpt: dict, backbone_path: Path, heads: list[str], graphs: dict[str, GraphEntry]) -> Manifest:
    head_files = {h: backbone_path.parent / f"{h}.pt" for h in heads}
    return Manifest(
        producer=producer(),
        source={"checkpoint": str(backbone_path), "sha256": sha256_file(backbone_path),
                "arch": ckpt["arch"], "config": ckpt.get("config", {}),
                "heads": {h: {"checkpoint": str(p), "sha256": sha256_file(p)} for h, p in head_files.items()}},
        classes=Classes(list(ckpt["class_names"]), [list(c) for c in ckpt["palette"]], ckpt["ignore_id"]),
        input=InputSpec(size=list(ckpt["input_size"]), mean=list(ckpt["mean"]), std=list(ckpt["std"])),
        output=OutputSpec(name="logits", kind="scores", stride=logits_stride(graphs, int(ckpt["input_size"][0]))),
        precision=opts.precision, opset=opts.opset, graphs=graphs)
