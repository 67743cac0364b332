"""``edgeseg export BUNDLE --heads-from DIR --out NEW``: add heads trained on a bundle's backbone to a copy of it.

Heads trained with ``edgeseg train refiner|stgru|gcrf --backbone BUNDLE`` learned on that bundle's own backbone
graph, run by ONNX Runtime. They are exported here with their parity gates, their feeds built from the same
graph on real frames; the bundle's other files are copied unchanged, so the new bundle runs the R, grfp and
gcrf points on a model edgeseg did not build.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.bundle import MANIFEST, Bundle, load_bundle, sha256_file
from edgeseg.bundle.manifest import Manifest
from edgeseg.calibration.frames import read_frames
from edgeseg.errors import UsageError
from edgeseg.export.assemble import ExportOptions, calibration_source, check_common, finish, gate_torch_graphs, in_temp_dir, progress
from edgeseg.export.graphs import GraphSpec, real_feeds
from edgeseg.export.tile_graph import add_tile_feeds, add_tile_spec, mark_tile_graph
from edgeseg.models.checkpoint import load_heads
from edgeseg.runtime import fusion
from edgeseg.runtime.engines.segment import BundleSegmenter


def is_bundle(model: str) -> bool:
    return (Path(model) / MANIFEST).is_file()


def attach_heads(opts: ExportOptions) -> Path:
    """A copy of bundle ``opts.model`` with the heads of ``opts.heads_from`` exported and gated; returns its folder."""
    check_common(opts)
    if not opts.heads_from:
        raise UsageError(f"{opts.model} is a bundle: pass --heads-from DIR (heads trained with --backbone {opts.model}) "
                         "to add heads to it, or export from a checkpoint")
    source = load_bundle(opts.model)
    found = load_heads(opts.heads_from)
    every = opts.heads is None or tuple(opts.heads) == fusion.head_names()
    wanted = [h for h in fusion.head_names() if h in found] if every else list(opts.heads or ())
    missing = [h for h in wanted if h not in found]
    if not wanted or missing:
        raise UsageError(f"no checkpoint for head(s) {', '.join(missing) or 'any'} in {opts.heads_from}; "
                         f"train them with edgeseg train HEAD --backbone {opts.model} --out {opts.heads_from}")
    m = source.manifest
    for name in wanted:
        _check_fits(name, found[name][1], m, opts)
    seg = BundleSegmenter(source)

    def outputs(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        scores, feats = seg.head_maps(rgb)
        return scores[None], None if feats is None else feats[None]

    specs = [GraphSpec(name, name, found[name][0], fusion.get(name).input_names(found[name][0]), list(fusion.get(name).outputs))
             for name in wanted]
    precision_opts = ExportOptions(**{**vars(opts), "precision": m.precision})  # heads at the bundle's precision
    calib = calibration_source(opts)
    n_parity = opts.parity_frames + 2  # +2: the GCRF window needs 3 frames for its first feed
    frames = list(read_frames(calib, n_parity + (opts.calib_frames if m.precision == "int8" else 0)))
    meta = {"input_size": m.input.size, "mean": m.input.mean, "std": m.input.std}
    grid = add_tile_spec(specs, (int(m.input.size[0]), int(m.input.size[1])), opts.refiner_tiles)
    parity_feeds = real_feeds(specs, outputs, meta, frames[:n_parity])
    calib_feeds = real_feeds(specs, outputs, meta, frames[n_parity:]) if m.precision == "int8" else {}
    add_tile_feeds(grid, specs, parity_feeds, calib_feeds)

    def build(tmp: Path) -> None:
        steps = progress(precision_opts, len(specs), 0)
        for entry in m.graphs.values():
            for file in [entry.file, *(v.file for v in entry.variants.values())]:
                shutil.copy2(source.root / file, tmp / file)
        gated, parity = gate_torch_graphs(precision_opts, tmp, specs, parity_feeds, calib_feeds, steps)
        graphs = {**m.graphs, **gated}
        mark_tile_graph(graphs, grid)
        heads = {**m.source.get("heads", {}), **{h: {"checkpoint": str(Path(opts.heads_from) / f"{h}.pt"),
                                                      "sha256": sha256_file(Path(opts.heads_from) / f"{h}.pt")} for h in wanted}}
        manifest = Manifest(**{**vars(m), "graphs": graphs, "source": {**m.source, "heads": heads}, "engines": {}})
        finish(precision_opts, tmp, Bundle(tmp, manifest), parity, steps, carried=_carried_parity(source.root))

    return in_temp_dir(opts.out, build)


def _check_fits(name: str, ckpt: dict[str, Any], m: Manifest, opts: ExportOptions) -> None:
    where = Path(opts.heads_from or "") / f"{name}.pt"
    if m.output.kind != "scores":
        raise UsageError(f"{opts.model} gives labels only; heads need class scores")
    classes = ckpt.get("config", {}).get("num_classes")
    if classes is not None and classes != len(m.classes.names):
        raise UsageError(f"{where} has {classes} classes, bundle {opts.model} has {len(m.classes.names)}")
    if list(ckpt.get("input_size", m.input.size)) != list(m.input.size):
        raise UsageError(f"{where} was trained at input size {ckpt['input_size']}, bundle {opts.model} takes {m.input.size}; "
                         f"train it with --backbone {opts.model}")
    if name == "netwarp":
        raise UsageError(f"{where}: NetWarp needs an edgeseg backbone's features; attach refiner, stgru or gcrf")
    if name == "refiner" and ckpt.get("config", {}).get("feat_channels") and not m.output.features:
        raise UsageError(f"{where} takes backbone features that bundle {opts.model} does not have; "
                         f"train it with --backbone {opts.model}")


def _carried_parity(root: Path) -> dict[str, Any]:
    """The source bundle's gate results, kept in the new bundle's parity.json next to the heads'."""
    try:
        doc = json.loads((root / "parity.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if k != "tensorrt_check"} if isinstance(doc, dict) else {}
