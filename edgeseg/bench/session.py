"""One profiling session: a bundle, operating points and a clip in, the sweep's rows out (``edgeseg profile``, demo)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from edgeseg.bench.frames import attach_labels, load_clip
from edgeseg.bench.report import machine_info
from edgeseg.bench.sweep import SweepOptions, frames_to_process, sweep
from edgeseg.bundle import load_bundle
from edgeseg.errors import UsageError
from edgeseg.profiles.schema import load_profile


def profile(bundle_dir: str, source: str, labels: str | None, names: list[str], frames: int, opts: SweepOptions,
            progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]], Any]:
    """(machine description, one row per operating point, the clip) for ``frames`` frames of ``source``;
    shared by ``edgeseg profile`` and ``edgeseg demo``."""
    if frames < 2:
        raise UsageError("--frames must be at least 2 (propagation needs a previous frame)")
    if opts.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    bundle = load_bundle(bundle_dir)
    ops = [load_profile(n) for n in names]
    clip = load_clip(source, frames)
    if labels:
        attach_labels(clip, labels)
    bar = tqdm(total=sum(frames_to_process(op, clip, opts) for op in ops), unit="frame", disable=not progress,
               file=sys.stderr)

    def on_row(row: dict[str, Any]) -> None:
        bar.set_postfix_str(f"{row['profile']} {row['status']}" + (f" {row['fps']:.1f} FPS" if row["fps"] else ""))

    try:
        rows = sweep(bundle, ops, clip, opts, on_frame=lambda: bar.update(), on_row=on_row)
    finally:
        bar.close()
    return machine_info(opts.backend), rows, clip
