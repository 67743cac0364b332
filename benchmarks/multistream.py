"""Several cameras on one engine: 1, 2, 4 and 8 copies of CamVid val at evs07, keyframes staggered vs aligned
(--no-stagger), aggregated FPS against the sum-of-costs ideal and tick latency, in one run.

The ideal for N streams on one engine is the single stream's FPS (every frame costs what it costs alone;
N streams share one CPU and one engine), measured in the same run: the better of two passes after a warm-up. Sync mode, round-robin ticks.
Writes benchmarks/results/multistream.md.

    python benchmarks/multistream.py [--bundle runs/bundle_default] [--profile evs07] [--streams 1,2,4,8]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from _report import DATA, ensure_bundle, publish

from edgeseg.bundle import load_bundle
from edgeseg.profiles import load_profile
from edgeseg.runtime.pipeline.launch import open_session


def run(bundle, op, source: str, n: int, stagger: bool) -> dict:
    session, _ = open_session(bundle, op, [source] * n, mode="sync", stagger=stagger)
    return session.run().stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/bundle_default")
    ap.add_argument("--profile", default="evs07")
    ap.add_argument("--streams", default="1,2,4,8")
    args = ap.parse_args()
    source = DATA / "camvid" / "val"
    if not source.is_dir():
        print(f"skip: CamVid val not found at {source}", file=sys.stderr)
        return 0
    bundle, op = load_bundle(ensure_bundle(Path(args.bundle))), load_profile(args.profile)
    counts = [int(n) for n in args.streams.split(",")]
    run(bundle, op, str(source), 1, True)  # warms ONNX Runtime and the caches up: not counted
    ideal = max(run(bundle, op, str(source), 1, True)["fps"] for _ in range(2))
    lines = [f"# Several streams on one engine: {op.name} ({op.label()}), copies of CamVid val (101 frames, 480x360)", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
             "ONNX Runtime CPU, sync mode, round-robin ticks, 3 warm-up ticks excluded. Ideal aggregated FPS = one "
             f"stream's FPS in the same run, best of two passes after a warm-up ({ideal:.1f}): N streams share one "
             "engine and one CPU.", "",
             "| streams | keyframes | FPS (all streams) | vs ideal | tick p50 ms | tick p99 ms | p99 staggered / aligned |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for n in counts:
        rows = {stagger: run(bundle, op, str(source), n, stagger) for stagger in (True, False)}
        for stagger, r in rows.items():
            ratio = rows[True]["tick_ms"]["p99"] / rows[False]["tick_ms"]["p99"] if stagger else None
            lines.append(f"| {n} | {'staggered' if stagger else 'aligned'} | {r['fps']:.1f} | {r['fps'] / ideal:.2f} | "
                         f"{r['tick_ms']['p50']:.1f} | {r['tick_ms']['p99']:.1f} | {f'{ratio:.2f}' if ratio else '-'} |")
        print(lines[-2], lines[-1], sep="\n", file=sys.stderr)
    publish(lines, "multistream.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
