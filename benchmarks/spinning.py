"""Whether ONNX Runtime's spinning intra-op threads slow the pipeline's other stages (issue 14, part 2), in one run:

1. two sessions of one bundle (backbone, refiner) called in turn, as evs06 does, with each session's threads
   spinning or sleeping between calls: each call's median time;
2. operating points on CamVid val in sync mode with the engines' threads spinning or not (everything else the
   sync budget): FPS, alternating the two settings ``--repeat`` times.

    python benchmarks/spinning.py [--bundle runs/bundle_default] [--points evs01,evs06,evs07,evs14,grfp] [--repeat 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from _report import DATA, ensure_bundle, machine_line, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bench.frames import load_clip
from edgeseg.bundle import load_bundle
from edgeseg.profiles.schema import load_profile
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.engines.thread_budget import thread_budget
from edgeseg.runtime.fusion import refiner
from edgeseg.runtime.pipeline.core import Pipeline


def session(path: Path, spinning: bool) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def median_in_ms(times: list[float]) -> float:
    return 1000 * statistics.median(times)


def two_sessions(bundle, feeds: dict[str, dict], calls: int) -> list[str]:
    lines = ["| backbone threads | refiner threads | backbone ms | refiner ms (right after it) | refiner ms back to back |",
             "|---|---|---:|---:|---:|"]
    for spin_b, spin_r in ((True, True), (False, True), (True, False), (False, False)):
        sessions = {k: session(bundle.root / bundle.graphs[k].file, spin) for k, spin in (("backbone", spin_b), ("refiner", spin_r))}
        for _ in range(3):
            for k, s in sessions.items():
                s.run(None, feeds[k])
        took: dict[str, list[float]] = {"backbone": [], "refiner": [], "alone": []}
        for _ in range(calls):
            for k, s in sessions.items():
                t = time.perf_counter()
                s.run(None, feeds[k])
                took[k].append(time.perf_counter() - t)
        for _ in range(calls):
            t = time.perf_counter()
            sessions["refiner"].run(None, feeds["refiner"])
            took["alone"].append(time.perf_counter() - t)
        word = {True: "spinning", False: "sleeping"}
        lines.append(f"| {word[spin_b]} | {word[spin_r]} | {median_in_ms(took['backbone']):.1f} | {median_in_ms(took['refiner']):.1f} | "
                     f"{median_in_ms(took['alone']):.1f} |")
    return lines


def points_fps(bundle, names: list[str], frames: list, repeat: int) -> list[str]:
    fps: dict[tuple[str, bool], list[float]] = {}
    for _ in range(repeat):
        for spinning in (True, False):
            budget = dataclasses.replace(thread_budget(live=False), engine_spinning=spinning)
            for name in names:
                with Pipeline(bundle, load_profile(name), threads=budget) as pipe:
                    for f in frames[:5]:
                        pipe.process(f)
                    pipe.reset()
                    t = time.perf_counter()
                    for f in frames:
                        pipe.process(f)
                    fps.setdefault((name, spinning), []).append(len(frames) / (time.perf_counter() - t))
    def cell(name: str, spinning: bool) -> str:
        runs = fps[(name, spinning)]
        return f"{statistics.median(runs):.1f} ({'/'.join(f'{v:.0f}' for v in runs)})"
    lines = ["| point | FPS, threads spinning (runs) | FPS, threads sleeping (runs) | ratio |", "|---|---:|---:|---:|"]
    for name in names:
        ratio = statistics.median(fps[(name, False)]) / statistics.median(fps[(name, True)])
        lines.append(f"| {name} | {cell(name, True)} | {cell(name, False)} | {ratio:.2f}x |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "runs" / "bundle_default"))
    ap.add_argument("--points", default="evs01,evs06,evs07,evs14,grfp")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--name", default="spinning.md", help="results file name (default: %(default)s)")
    args = ap.parse_args()
    bundle = load_bundle(ensure_bundle(Path(args.bundle)))
    frames = load_clip(str(DATA / "camvid" / "val")).frames
    image = NetworkIO(bundle, "backbone").feed(frames[0])
    shapes = bundle.graphs["refiner"].shapes
    rng = np.random.default_rng(0)
    feats = rng.standard_normal(shapes["warped_feats"][1:]).astype(np.float32) if "warped_feats" in shapes else None
    probs = rng.random(shapes["warped_probs"][1:]).astype(np.float32)
    feeds = {"backbone": image, "refiner": refiner.feed(next(iter(image.values())), feats, probs)}
    lines = [f"# ONNX Runtime's thread spinning and the pipeline's other stages ({bundle.root.name})", "",
             f"Machine: {machine_line()}.", "",
             "`python benchmarks/spinning.py` (the bundle's graphs; medians of "
             f"{args.calls} calls; CamVid val, {len(frames)} frames, sync mode, {args.repeat} alternating runs)", "",
             "## Two sessions in turn (evs06: backbone, then the refiner)", "", *two_sessions(bundle, feeds, args.calls), "",
             "## Operating points", "", *points_fps(bundle, args.points.split(","), frames, args.repeat)]
    publish(lines, args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
