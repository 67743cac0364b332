"""``edgeseg profile --bundle DIR --source URI``: every operating point on the same frames, side by side."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from edgeseg.bench.frames import attach_labels, load_clip
from edgeseg.bench.report import machine_info, plot, table, write_csv, write_json
from edgeseg.bench.sweep import SweepOptions, sweep
from edgeseg.errors import UsageError
from edgeseg.profiles.schema import builtin_names, load_profile
from edgeseg.runtime.bundle import load_bundle
from edgeseg.runtime.engine import BACKENDS, best_backend


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--source", default="sample://bikes",
                   help="a recorded clip: video file, image folder or sample://bikes (default: %(default)s); "
                        "frames are decoded once into memory so that every operating point sees the same frames")
    p.add_argument("--labels", help="folder of label PNGs (class ids) matched to frames by file stem (videos: 000123 "
                                    "for frame 123); adds mIoU, mIoU on keyframes and on propagated frames")
    p.add_argument("--profiles", default="all",
                   help="'all' (every built-in) or a comma list of names / YAML files (default: %(default)s)")
    p.add_argument("--frames", type=int, default=200, help="use the first N frames of the source (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1, help="timed passes per operating point; FPS is their median (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="frames per pass kept out of FPS and latency (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the best available)")
    p.add_argument("--json", help="write {machine, rows} as JSON here")
    p.add_argument("--csv", help="write the rows as CSV here")
    p.add_argument("--plot", help="write a PNG plot here: FPS (log) vs mIoU with the Pareto front, or FPS bars without labels")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def profile_names(text: str) -> list[str]:
    names = builtin_names() if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--profiles is empty; pass 'all' or a comma list (edgeseg profiles lists them)")
    return names


def check_outputs(*paths: str | None) -> None:
    """Fail before the sweep, not after it, when an output cannot be written."""
    for p in paths:
        if p is None:
            continue
        parent = Path(p).resolve().parent
        if not parent.is_dir():
            raise UsageError(f"cannot write {p}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise UsageError(f"cannot write {p}: folder {parent} is not writable")


def profile(bundle_dir: str, source: str, labels: str | None, names: list[str], frames: int, opts: SweepOptions,
            progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """Load everything, sweep, return (machine, rows, clip). Shared by ``edgeseg profile`` and ``edgeseg demo``."""
    if frames < 2:
        raise UsageError("--frames must be at least 2 (propagation needs a previous frame)")
    if opts.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    bundle = load_bundle(bundle_dir)
    ops = [load_profile(n) for n in names]
    clip = load_clip(source, frames)
    if labels:
        attach_labels(clip, labels)
    bar = tqdm(total=len(ops) * len(clip.frames) * opts.repeat, unit="frame", disable=not progress, file=sys.stderr)

    def on_row(row: dict[str, Any]) -> None:
        bar.set_postfix_str(f"{row['profile']} {row['status']}" + (f" {row['fps']:.1f} FPS" if row["fps"] else ""))

    try:
        rows = sweep(bundle, ops, clip, opts, on_frame=lambda: bar.update(), on_row=on_row)
    finally:
        bar.close()
    return machine_info(opts.backend), rows, clip


def run(args: argparse.Namespace) -> int:
    check_outputs(args.json, args.csv, args.plot)
    backend = args.backend or best_backend()
    opts = SweepOptions(repeat=args.repeat, warmup=args.warmup, backend=backend)
    machine, rows, clip = profile(args.bundle, args.source, args.labels, profile_names(args.profiles), args.frames, opts,
                                  progress=not args.no_progress)
    print(f"{len(clip.frames)} frames of {args.source}" + (f", {clip.labelled} labelled" if clip.labels else "") +
          f"; backend {backend}; sync mode")
    print(table(rows))
    extra = {"source": args.source, "bundle": str(args.bundle), "labelled_frames": clip.labelled}
    if args.json:
        write_json(args.json, machine, rows, extra)
    if args.csv:
        write_csv(args.csv, rows)
    if args.plot:
        plot(args.plot, rows, f"{Path(args.bundle).name} on {args.source} ({len(clip.frames)} frames, {backend})")
    return 0 if all(r["status"] == "ok" for r in rows) else 1
