"""``edgeseg profile --bundle DIR --source URI``: every operating point on the same frames, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeseg.cli.common import check_outputs, non_negative_int, profile_names
from edgeseg.runtime.engines.registry import BACKENDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--source", metavar="URI", default="sample://bikes",
                   help="a recorded clip: video file, image folder or sample://bikes (default: %(default)s); "
                        "frames are decoded once into memory so that every operating point sees the same frames")
    p.add_argument("--labels", metavar="DIR", help="folder of label PNGs (class ids) matched to frames by file stem (videos: 000123 "
                                    "for frame 123); adds mIoU, mIoU on keyframes and on propagated frames")
    p.add_argument("--profiles", default="all",
                   help="'all' (every built-in) or a comma list of names / YAML files (default: %(default)s)")
    p.add_argument("--frames", metavar="N", type=int, default=200, help="use the first N frames of the source (default: %(default)s)")
    p.add_argument("--repeat", metavar="R", type=int, default=1, help="timed passes per operating point; FPS is their median (default: %(default)s)")
    p.add_argument("--warmup", metavar="N", type=non_negative_int, default=3,
                   help="frames per pass kept out of FPS and latency (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the best available)")
    p.add_argument("--json", metavar="FILE", help="write {machine, rows} as JSON here")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV here")
    p.add_argument("--plot", metavar="FILE", help="write a PNG plot here: FPS (log) vs mIoU with the Pareto front, or FPS bars without labels")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from edgeseg.bench.report import plot, table, write_csv, write_json
    from edgeseg.bench.session import profile
    from edgeseg.bench.sweep import SweepOptions
    from edgeseg.runtime.engines.registry import best_backend

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
