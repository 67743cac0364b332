"""``edgeseg profile --bundle DIR --source URI``: every operating point on the same frames, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeseg.cli.common import check_outputs, non_negative_int, profile_names
from edgeseg.errors import UsageError
from edgeseg.runtime.engines.registry import BACKENDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--source", metavar="URI", default="sample://bikes",
                   help="a recorded clip: video file, image folder or sample://bikes (default: %(default)s); "
                        "frames are decoded once into memory so that every operating point sees the same frames")
    p.add_argument("--labels", metavar="DIR", help="folder of label PNGs (class ids) matched to frames by file stem (videos: 000123 "
                                    "for frame 123); adds mIoU, mIoU on keyframes and on propagated frames")
    p.add_argument("--profiles", default=None,
                   help="'all' (every built-in; those whose graphs the bundle lacks are export_failed rows) or a comma "
                        "list of names / YAML files (default: every built-in this bundle has every graph for; the "
                        "others are named in one line)")
    p.add_argument("--frames", metavar="N", type=int, default=200, help="use the first N frames of the source (default: %(default)s)")
    p.add_argument("--repeat", metavar="R", type=int, default=1, help="timed passes per operating point; FPS is their median (default: %(default)s)")
    p.add_argument("--warmup", metavar="N", type=non_negative_int, default=3,
                   help="frames per pass kept out of FPS and latency (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the best available)")
    p.add_argument("--json", metavar="FILE", help="write {machine, rows} as JSON here")
    p.add_argument("--csv", metavar="FILE", help="write the rows as CSV here")
    p.add_argument("--plot", metavar="FILE", help="write a PNG plot here: FPS (log) vs mIoU with the Pareto front, or FPS bars "
                   "without labels; points it cannot draw are listed on it and printed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def default_points(bundle: Any) -> tuple[list[str], list[str]]:
    """(the built-in points ``bundle`` has every graph for: what ``profile`` runs without --profiles, the other
    built-ins as ``"name (no GRAPH graph)"``)."""
    from edgeseg.cli.run_cmd import offered_points
    from edgeseg.profiles.schema import builtin_names, load_profile
    from edgeseg.runtime.pipeline.core import required_graphs
    names = offered_points(bundle)
    if not names:
        raise UsageError(f"bundle {bundle.root} has the graphs of no built-in operating point; name a YAML file with "
                         "--profiles, or re-export it (edgeseg export)")
    left = [f"{n} (no {', '.join(k for k in required_graphs(load_profile(n)) if k not in bundle.graphs)} graph)"
            for n in builtin_names() if n not in names]
    return names, left


def left_out_line(left: list[str]) -> str:
    """Which built-in points a bundle cannot run and why, in one line."""
    return (f"left out {', '.join(left)}: the bundle was exported without those heads (edgeseg export MODEL --heads all "
            "adds them; --profiles all lists them as export_failed)")


def run(args: argparse.Namespace) -> int:
    from edgeseg.bench.report import plot, table, write_csv, write_json
    from edgeseg.bench.sweep import SweepOptions, measure
    from edgeseg.bundle import load_bundle
    from edgeseg.runtime.engines.registry import best_backend

    check_outputs(args.json, args.csv, args.plot)
    bundle = load_bundle(args.bundle)
    if args.profiles is None:
        names, left = default_points(bundle)
        if left:
            print(f"profiling the {len(names)} built-in points this bundle can run; {left_out_line(left)}", flush=True)
    else:
        names = profile_names(args.profiles)
    backend = args.backend or best_backend()
    opts = SweepOptions(repeat=args.repeat, warmup=args.warmup, backend=backend)
    machine, rows, clip = measure(bundle, args.source, args.labels, names, args.frames, opts, progress=not args.no_progress)
    print(f"{len(clip.frames)} frames of {args.source}" + (f", {clip.labelled} labelled" if clip.labels else "") +
          f"; backend {backend}; sync mode")
    print(table(rows))
    extra = {"source": args.source, "bundle": str(args.bundle), "labelled_frames": clip.labelled}
    if args.json:
        write_json(args.json, machine, rows, extra)
    if args.csv:
        write_csv(args.csv, rows)
    if args.plot:
        title = f"edgeseg profile: {Path(args.bundle).resolve().name} on {args.source} ({len(clip.frames)} frames, sync mode)"
        missing = plot(args.plot, rows, title, machine)
        if missing:
            print(f"plot {args.plot}: not shown: {'; '.join(missing)}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1
