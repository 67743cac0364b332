"""A propagated frame through ``edgeseg.Propagator`` against OpenCV alone on the same frames: DIS ultrafast
backward flow + one ``cv2.remap`` (INTER_NEAREST) of the label map, grayscale conversion in both. Real
highway footage at 960x540 (../shared/data/video/solidWhiteRight.mp4). The two alternate per pass; the
figure is the median per-frame time over passes. Issue 14's target: Propagator within 1.15x.

    python benchmarks/propagation.py [--frames 60] [--passes 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import cv2
import numpy as np
from _report import DATA, machine_line, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.runtime.io.sources import open_source
from edgeseg.runtime.pipeline.core import Propagator

CLIP = DATA / "video" / "solidWhiteRight.mp4"


def opencv_alone(labels: np.ndarray, first: np.ndarray, frames: list[np.ndarray]) -> list[np.ndarray]:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    h, w = labels.shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    prev, current, out = cv2.cvtColor(first, cv2.COLOR_RGB2GRAY), labels, []
    for rgb in frames:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        flow = dis.calc(gray, prev, None)
        current = cv2.remap(current, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        out.append(current)
        prev = gray
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="edgeseg kernel threads (default: %(default)s)")
    args = ap.parse_args()
    if not CLIP.is_file():
        print(f"{CLIP} not found (../shared/data is absent)", file=sys.stderr)
        return 2
    src = open_source(str(CLIP))
    frames = []
    while len(frames) < args.frames + 1:
        r = src.read()
        if r.frame is None:
            break
        frames.append(r.frame)
    src.close()
    rng = np.random.default_rng(0)
    h, w = frames[0].shape[:2]
    labels = cv2.resize(rng.integers(0, 11, (h // 16, w // 16), dtype=np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    prop = Propagator(kernel_threads=args.threads)
    ours, theirs = [], []
    for _ in range(args.passes):
        t = time.perf_counter()
        list(prop.propagate(labels, frames[0], frames[1:]))
        ours.append((time.perf_counter() - t) / (len(frames) - 1))
        t = time.perf_counter()
        opencv_alone(labels, frames[0], frames[1:])
        theirs.append((time.perf_counter() - t) / (len(frames) - 1))
    a, b = 1000 * statistics.median(ours), 1000 * statistics.median(theirs)
    agree = np.mean([np.mean(x == y) for x, y in zip(prop.propagate(labels, frames[0], frames[1:]), opencv_alone(labels, frames[0], frames[1:]))])
    lines = ["# Propagated frame: Propagator vs OpenCV DIS ultrafast + cv2.remap", "", f"Machine: {machine_line()}", "",
             f"{CLIP.name}, {w}x{h}, {len(frames) - 1} propagated frames, median of {args.passes} alternating passes, "
             f"edgeseg kernels on {args.threads} thread(s).", "",
             "| | ms per frame |", "|---|---|", f"| edgeseg Propagator | {a:.2f} |", f"| OpenCV DIS ultrafast + cv2.remap | {b:.2f} |",
             "", f"Ratio: **{a / b:.2f}x** (target <= 1.15x). Label agreement with the OpenCV loop: {100 * agree:.3f}% of pixels."]
    publish(lines, "propagation.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
