"""Refinement by tiles (issue 14, part 3): the refiner's cost on tiles against the full frame, by mask area, and
what evs06 chooses on real footage, in one run.

1. Cost by mask area: real propagated frames of CamVid val (keyframe every 5th), their real soft IAM masks cut to a
   centred window holding a share of the frame; for each share the tiles planned and the median time of the
   refiner's probabilities on those tiles (crops, tile graph runs, pastes) against the full-frame graph, and the
   largest difference between the two inside the mask.
2. On footage (CamVid val, the highway clip): evs06 with tiles off, on when they cost less (the default) and
   always: FPS, refine stage per refined frame, tiles per tiled frame, frames refined by tiles, label agreement
   with tiles off.

    python benchmarks/tiles.py [--bundle runs/bundle_compact] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from _report import DATA, machine_line, median_ms, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bench.frames import load_clip
from edgeseg.bundle import load_bundle
from edgeseg.errors import UsageError
from edgeseg.profiles.schema import load_profile
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.engines.preprocess import preprocess
from edgeseg.runtime.engines.registry import open_engine
from edgeseg.runtime.motion import kernels
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.pipeline import tiles
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.refinement import Refinement, softmax

SHARES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def refiner_inputs(bundle, frames: list[np.ndarray], interval: int = 5) -> list[tuple]:
    """(image, probs, feats, soft mask) of each propagated frame, built as the pipeline builds them."""
    net, op = NetworkIO(bundle, "backbone"), load_profile("evs06")
    engine, dis = open_engine(bundle, "backbone"), FlowEstimator(op.flow)
    size, m = tuple(bundle.manifest.input.size), bundle.manifest.input
    out, prev = [], None
    for i, rgb in enumerate(frames):
        gray = to_gray(rgb)
        if i % interval == 0:
            key = net.infer(engine, rgb)
            labels, probs, feats = net.labels(key, rgb.shape[:2]), softmax(net.head_scores(key.scores)), key.feats
        else:
            back, fwd = dis.backward(gray, prev), dis.backward(prev, gray)
            labels, probs = kernels.warp([labels], back)[0], kernels.warp([probs], back)[0]
            feats = kernels.warp([feats], back)[0] if feats is not None else None
            mask, _ = kernels.iam_inconsistency(labels, back, fwd)
            soft = cv2.blur(cv2.dilate(mask, np.ones((op.iam.dilate,) * 2, np.uint8)).astype(np.float32), (op.iam.blur,) * 2)
            out.append((preprocess(rgb, size, m.mean, m.std), probs, feats, soft))
        prev = gray
    return out


def window(mask: np.ndarray, share: float) -> np.ndarray:
    """``mask`` kept only inside a centred window of ``share`` of the frame's area."""
    H, W = mask.shape
    h, w = max(1, round(H * share ** 0.5)), max(1, round(W * share ** 0.5))
    out = np.zeros_like(mask)
    y, x = (H - h) // 2, (W - w) // 2
    out[y:y + h, x:x + w] = mask[y:y + h, x:x + w]
    return out


def cost_by_area(bundle, inputs: list[tuple], runs: int) -> list[str]:
    grid = tiles.grid_of(bundle)
    assert grid is not None
    ref = Refinement(open_engine(bundle, "refiner"), open_engine(bundle, tiles.GRAPH), grid, budget=float("inf"))
    sample = inputs[:: max(1, len(inputs) // 8)]
    full_ms = statistics.median(median_ms(lambda a=a: ref.probs(a[0], a[1], a[2], []), runs, warmup=0) for a in sample)
    lines = [f"Full frame: {full_ms:.2f} ms (median over {len(sample)} frames, {runs} runs each). Tile "
             f"{grid.size[0]}x{grid.size[1]}, context {grid.context}, core {grid.core[0]}x{grid.core[1]}, {grid.batch} per run.", "",
             "| mask window (share of frame) | mask pixels % | tiles | tile pixels / full frame | tiles ms | tiles / full | max |diff| in mask |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for share in SHARES:
        rows = []
        for image, probs, feats, soft in sample:
            cut = window(soft, share)
            planned = grid.plan(grid.cells(cut))
            ms = median_ms(lambda a=(image, probs, feats, planned): ref.probs(*a), runs, warmup=0) if planned else 0.0
            diff = 0.0
            if planned:
                got, want = ref.probs(image, probs, feats, planned), ref.probs(image, probs, feats, [])
                read = grid.cells(cut)
                diff = float(np.abs(got[:, read] - want[:, read]).max())
            rows.append((100 * float((cut > 0).mean()), len(planned), grid.area_ratio(len(planned)) if planned else 0.0, ms, diff))
        med = [statistics.median(col) for col in zip(*rows)]
        lines.append(f"| {share:.2f} | {med[0]:.1f} | {med[1]:.0f} | {med[2]:.2f} | {med[3]:.2f} | {med[3] / full_ms:.2f} | "
                     f"{max(r[4] for r in rows):.1e} |")
    return lines


def on_footage(bundle, clips: dict[str, list[np.ndarray]], repeat: int) -> list[str]:
    lines = ["| clip | tiles | budget (share of frame) | FPS | refine ms per refined frame | frames refined by tiles | "
             "tiles per tiled frame | labels = tiles off |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for clip, frames in clips.items():
        base: list[np.ndarray] = []
        for label, budget in (("off", 0.0), ("when cheaper (default)", None), ("always", float("inf"))):
            fps, refine, outs, budgets = [], [], [], []
            for _ in range(repeat):
                with Pipeline(bundle, load_profile("evs06"), tile_budget=budget) as pipe:
                    assert pipe.refinement is not None
                    budgets.append(pipe.refinement.budget)
                    t = time.perf_counter()
                    outs = [pipe.process(f) for f in frames]
                    fps.append(len(frames) / (time.perf_counter() - t))
                    refined = sum(1 for o in outs if o.refined_pixels)
                    refine.append(pipe.stats.to_json()["stage_ms"]["refine"] * pipe.stats.counted / max(1, refined))
            if not base:
                base = [o.labels for o in outs]
            same = 100 * np.mean([np.mean(a == o.labels) for a, o in zip(base, outs)])
            tiled = [o.refined_tiles for o in outs if o.refined_tiles]
            shares = "/".join(f"{b:.2f}" for b in budgets)
            lines.append(f"| {clip} | {label} | {shares} | {statistics.median(fps):.1f} | {statistics.median(refine):.2f} | "
                         f"{len(tiled)}/{sum(1 for o in outs if o.refined_pixels)} | "
                         f"{statistics.mean(tiled) if tiled else 0:.1f} | {same:.3f}% |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "runs" / "bundle_compact"))
    ap.add_argument("--runs", type=int, default=5, help="timed runs per frame and share (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=2, help="pipeline passes per setting (default: %(default)s)")
    ap.add_argument("--name", default="tiles.md", help="results file name (default: %(default)s)")
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    if tiles.grid_of(bundle) is None:
        raise UsageError(f"{args.bundle} has no tile graph; export it with --refiner-tiles auto and a refiner")
    val = load_clip(str(DATA / "camvid" / "val")).frames
    highway = load_clip(str(DATA / "video" / "solidWhiteRight.mp4"), 100).frames
    lines = [f"# Refinement by tiles ({Path(args.bundle).name})", "", f"Machine: {machine_line()}.", "",
             "`python benchmarks/tiles.py` (sync mode, ONNX Runtime CPU)", "",
             "## Cost by mask area (CamVid val, real IAM masks cut to a centred window)", "",
             *cost_by_area(bundle, refiner_inputs(bundle, val), args.runs), "",
             "## evs06 on footage", "", *on_footage(bundle, {"CamVid val": val, "highway (100 frames)": highway}, args.repeat)]
    publish(lines, args.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
