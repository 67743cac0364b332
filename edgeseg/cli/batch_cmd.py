"""``edgeseg batch --bundle B INPUT... --out DIR``: many videos, one output folder each, resumable."""

from __future__ import annotations

import argparse
import sys

from edgeseg.cli.common import check_outputs, non_negative_int, positive_int
from edgeseg.runtime.engines.registry import BACKENDS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (their videos, and sub-folders of frames), globs ('rec/*.mp4'), list files "
                        "(.txt, one URI per line) or manifests (.csv with columns uri[,labels], or .jsonl with the same "
                        "keys); s3://, gs://... where fsspec has the filesystem installed")
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--profile", default="evs07", help="built-in operating point or a YAML file (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: DIR/<video key>/ (labels + stats.json, the done marker) and DIR/batch.json/.csv")
    p.add_argument("--task", choices=("segment", "propagate"), default="segment",
                   help="segment: run the bundle under --profile; propagate: carry each given label PNG (the manifest's "
                        "labels column, matched to frames by name: 000123.png for a video's frame 123) forward to every "
                        "frame until the next one, without the network (default: %(default)s)")
    p.add_argument("--format", dest="fmt", choices=("png", "npz", "zstd"), default="png",
                   help="png: labels/NNNNNN.png as `edgeseg run --sink FOLDER/`; npz: labels.npz (np.load(f)['000123']); "
                        "zstd: labels.zst, raw HxW uint8 frames (needs zstandard) (default: %(default)s)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="videos processed at once. 1 without --address: in this process, no Ray; more: Ray Data actors, "
                        "each loading the engines once (default: %(default)s)")
    p.add_argument("--address", metavar="ADDR", default=None,
                   help="join this Ray cluster (auto, ray://HOST:10001; RAY_ADDRESS works too) instead of starting Ray "
                        "here; its nodes need edgeseg, the bundle at the same path and --out on a shared filesystem")
    p.add_argument("--retries", type=non_negative_int, default=2, metavar="N",
                   help="attempts after a worker died on a video; then the video fails and the job goes on "
                        "(default: %(default)s)")
    p.add_argument("--redo", action="store_true", help="process every video again, even those whose done marker matches")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the best available)")
    p.add_argument("--json", metavar="FILE", help="also write the per-video table as JSON here (DIR/batch.json always is)")
    p.add_argument("--ray-temp", metavar="DIR", default=None,
                   help="Ray's session folder when Ray starts here (default: Ray's, /tmp/ray; keep it short: Ray's "
                        "sockets live under it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from edgeseg._fs import atomic_write_text
    from edgeseg._json import dumps
    from edgeseg.batching.job import batch, summary_lines, totals

    check_outputs(args.json)
    table = batch(args.inputs, args.bundle, args.out, profile=args.profile, task=args.task, fmt=args.fmt,
                  workers=args.workers, address=args.address, retries=args.retries, redo=args.redo,
                  backend=args.backend, progress=not args.no_progress, ray_temp=args.ray_temp)
    for line in summary_lines(table):
        print(line)
    if args.json:
        atomic_write_text(args.json, dumps({"totals": totals(table), "videos": table}))
    failed = [r for r in table if r["status"] == "failed"]
    if failed:
        print(f"edgeseg batch: {len(failed)} video(s) failed (see {args.out}/batch.json)", file=sys.stderr)
    return 1 if failed else 0
