"""Pipeline throughput per operating point vs a bare loop over the same engine, same run (issue 4's bar).

Sources: CamVid val (the continuous 15 Hz run, 480x360) and the highway clip (960x540), decoded once into
memory so that disk and codec noise stay out of the comparison. Sync mode, ONNX Runtime CPU by default
(``--backend torch`` on a CUDA machine times the GPU path; ``--overlap`` times live mode's background
keyframes, frames fed as fast as the pipeline takes them).
The bare loop is preprocess + backbone + upsample/argmax on every frame: what evs01 does without the
pipeline around it. Per-frame cost of a propagated frame (flow + warp) is printed next to a keyframe's.

    python benchmarks/pipeline.py [--bundle runs/precisions/fp32] [--frames 100] [--profiles evs01,evs07,...]
                                  [--backend onnxrt|torch|tensorrt] [--overlap] [--sources camvid-val,highway] [--results NAME.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from _report import DATA, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bench.report import machine_info
from edgeseg.bundle import load_bundle
from edgeseg.calibration.frames import read_frames
from edgeseg.profiles import load_profile
from edgeseg.runtime.engines.registry import BACKENDS
from edgeseg.runtime.engines.segment import BundleSegmenter
from edgeseg.runtime.engines.thread_budget import thread_budget
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.stats import Stats

SHARED = DATA
SOURCES = {"camvid-val 480x360": SHARED / "camvid" / "val", "highway 960x540": SHARED / "video" / "solidWhiteRight.mp4"}


def bare_fps(bundle, frames, backend) -> float:
    seg = BundleSegmenter(bundle, backend=backend)
    for f in frames[:3]:
        seg(f)
    t = time.perf_counter()
    for f in frames:
        seg(f)
    return len(frames) / (time.perf_counter() - t)


def pipeline_run(bundle, op, frames, backend="onnxrt", overlap=False, sync_budget=False):
    threads = thread_budget(live=False) if sync_budget else None  # None: the mode's own budget
    with Pipeline(bundle, op, backend=backend, overlap=overlap, threads=threads) as p:
        p.stats.warmup = 3
        for f in frames[:3]:
            p.process(f)
        p.reset()
        p.stats = Stats(warmup=0)  # count from here: the warm-up frames above are excluded
        p.stats.begin()
        t = time.perf_counter()
        for f in frames:
            p.process(f)
        wall = time.perf_counter() - t
        return len(frames) / wall, p.stats.to_json()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/precisions/fp32")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--profiles", default="evs01,evs03,evs06,evs07,evs10,evs14,grfp,adaptive")
    ap.add_argument("--backend", default="onnxrt", choices=BACKENDS)
    ap.add_argument("--overlap", action="store_true", help="live mode's background keyframes (default: sync)")
    ap.add_argument("--sync-budget", action="store_true",
                    help="with --overlap: give live mode sync mode's thread budget (to measure live mode's own budget against)")
    ap.add_argument("--sources", default=",".join(s.split()[0] for s in SOURCES), help="comma list of: %(default)s")
    ap.add_argument("--results", default="pipeline.md", help="file name under benchmarks/results/")
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    engine = {"onnxrt": "ONNX Runtime CPU", "torch": "PyTorch", "tensorrt": "TensorRT"}[args.backend]
    lines = [f"# Pipeline FPS: bundle {args.bundle} ({bundle.precision}), {engine}, "
             f"{'live-mode overlap' if args.overlap else 'sync mode'}"
             f"{', sync thread budget' if args.sync_budget else ''} ({thread_budget(args.overlap and not args.sync_budget)})",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; {args.frames} frames per source, "
             "decoded in memory; bare loop = preprocess + backbone + upsample/argmax per frame, measured in the same run.", ""]
    if args.backend == "torch":
        machine = machine_info(args.backend)
        lines += [f"PyTorch {machine['torch']} on {machine['device']}.", ""]
    for label, src in SOURCES.items():
        if label.split()[0] not in args.sources.split(","):
            continue
        if not src.exists():
            print(f"skip {label}: {src} not found", file=sys.stderr)
            continue
        frames = list(read_frames(src, args.frames))
        bare = bare_fps(bundle, frames, args.backend)
        lines += [f"## {label}", "", f"bare loop: {bare:.1f} FPS", "",
                  "| profile | D S W R fusion | FPS | vs bare | speedup vs evs01 | keyframes | ms/frame flow | warp | segment | refine | fuse "
                  "| latency p50 | p99 |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        base = None
        for name in args.profiles.split(","):
            op = load_profile(name)
            fps, s = pipeline_run(bundle, op, frames, args.backend, args.overlap, args.sync_budget)
            base = fps if name == "evs01" else base
            st = s["stage_ms"]
            lines.append(f"| {name} | {op.label()} | {fps:.1f} | {fps / bare:.2f}x | "
                         f"{(fps / base) if base else float('nan'):.2f}x | {s['keyframes']} | {st['flow']:.2f} | {st['warp']:.2f} | "
                         f"{st['segment']:.2f} | {st['refine']:.2f} | {st['fuse']:.2f} | {s['latency_ms']['p50']:.1f} | "
                         f"{s['latency_ms']['p99']:.1f} |")
            print(lines[-1], file=sys.stderr)
        op = load_profile("evs10")
        _, s = pipeline_run(bundle, op, frames, args.backend)
        n, k = s["counted_frames"], s["keyframes"]
        seg_per_key = s["stage_ms"]["segment"] * n / max(1, k)
        prop = (s["stage_ms"]["flow"] + s["stage_ms"]["warp"]) * n / max(1, n - k)
        lines += ["", f"Per-frame cost (evs10): keyframe segment {seg_per_key:.1f} ms; propagated frame flow wait + warp "
                  f"{prop:.1f} ms (DIS runs on worker threads, overlapped).", ""]
    publish(lines, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
