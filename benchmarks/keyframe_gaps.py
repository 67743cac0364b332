"""Whether intermittent keyframes cost more than back-to-back ones (issue 14), measured two ways in one run:

1. the backbone alone (ONNX Runtime): back to back, idle between calls, and with S-1 frames of propagation
   work (DIS flow + warp on real frames) between calls, with its intra-op thread spinning on and off;
2. in the pipeline on CamVid val: each point's keyframes inside its own loop against the same point run with
   every frame a keyframe (S = 1, no flow), per-frame medians and means, and the propagated frames' cost.

    python benchmarks/keyframe_gaps.py [--bundle runs/bundle_default] [--calls 30] [--gap 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import onnxruntime as ort
from _report import DATA, ensure_bundle, machine_line, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.profiles.schema import load_profile
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.motion import kernels
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.pipeline.core import Pipeline


def session(path: Path, spinning: bool) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "runs" / "bundle_default"))
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--gap", type=int, default=4, help="propagated frames between keyframes (S - 1) (default: %(default)s)")
    ap.add_argument("--points", default="evs07,evs08,evs14", help="operating points for part 2 (default: %(default)s)")
    args = ap.parse_args()
    bundle = load_bundle(ensure_bundle(Path(args.bundle)))
    net = NetworkIO(bundle, "backbone")
    frames = [read_rgb(p) for p in list_images(DATA / "camvid" / "val")[: args.gap + 2]]
    feeds = [net.feed(f) for f in frames]
    grays = [to_gray(f) for f in frames]
    dis = FlowEstimator()
    labels = kernels.upsample_argmax(session(bundle.graph_path("backbone"), True).run(["logits"], feeds[0])[0][0], frames[0].shape[:2])

    def propagation_work() -> None:
        for i in range(1, args.gap + 1):
            kernels.warp([labels], dis.backward(grays[i], grays[i - 1]))

    rows = []
    for spinning in (True, False):
        sess = session(bundle.graph_path("backbone"), spinning)
        for _ in range(3):
            sess.run(["logits"], feeds[0])
        for mode in ("back to back", "idle 20 ms between", f"{args.gap} propagated frames between"):
            times = []
            for c in range(args.calls):
                if mode.startswith("idle"):
                    time.sleep(0.02)
                elif mode != "back to back":
                    propagation_work()
                t = time.perf_counter()
                sess.run(["logits", "feats"], feeds[c % len(feeds)])
                times.append(1000 * (time.perf_counter() - t))
            rows.append((spinning, mode, statistics.median(times), statistics.mean(times)))
    t = time.perf_counter()
    for _ in range(5):
        propagation_work()
    gap_ms = 1000 * (time.perf_counter() - t) / 5
    lines = ["# Keyframe latency: back to back vs between propagated frames", "", f"Machine: {machine_line()}", "",
             f"Default bundle's backbone (D=1), ONNX Runtime CPU, {args.calls} calls per cell; the propagation work between "
             f"keyframes ({args.gap} frames of DIS + warp) takes {gap_ms:.1f} ms.", "",
             "| intra-op spinning | keyframes | median ms | mean ms |", "|---|---|---|---|"]
    lines += [f"| {'on (default)' if s else 'off'} | {mode} | {med:.2f} | {mean:.2f} |" for s, mode, med, mean in rows]
    clip = [read_rgb(p) for p in list_images(DATA / "camvid" / "val")]
    lines += ["", f"In the pipeline (sync mode, CamVid val, {len(clip)} frames, the first 3 left out): ms per frame.", "",
              "| point | keyframes in its loop (median / mean) | keyframes back to back (median / mean) | propagated (median / mean) |",
              "|---|---|---|---|"]

    def per_frame(op) -> tuple[list[float], list[float]]:
        key, other = [], []
        with Pipeline(bundle, op) as pipe:
            for i, rgb in enumerate(clip):
                t = time.perf_counter()
                out = pipe.process(rgb)
                if i >= 3:
                    (key if out.keyframe else other).append(1000 * (time.perf_counter() - t))
        return key, other

    def cell(v: list[float]) -> str:
        return f"{statistics.median(v):.2f} / {statistics.mean(v):.2f}" if v else "-"
    for name in args.points.split(","):
        op = load_profile(name)
        key, other = per_frame(op)
        b2b, _ = per_frame(dataclasses.replace(op, keyframe_interval=1, adaptive=None, warp=False, refine=False))
        lines.append(f"| {name} | {cell(key)} | {cell(b2b)} | {cell(other)} |")
    publish(lines, "keyframe_gaps.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
