"""Run operating points over one clip in sync mode and measure each: FPS (and speedup vs evs01 in the same
run), latency, per-stage time, accuracy against labels (all frames, keyframes, propagated frames) and
temporal consistency. One row per operating point in the profiler JSON format of DESIGN.md."""

from __future__ import annotations

import statistics
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from edgeseg.bench.frames import Clip, attach_labels, load_clip
from edgeseg.bench.report import machine_info
from edgeseg.bundle import Bundle, load_bundle
from edgeseg.data.metrics import ConfusionMatrix
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.profiles.schema import load_profile
from edgeseg.runtime.io.sources import FrameListSource
from edgeseg.runtime.motion.flow import to_gray
from edgeseg.runtime.operating_point import OperatingPoint
from edgeseg.runtime.pipeline.core import Pipeline, check_graphs
from edgeseg.runtime.pipeline.session import Delivered, Session, Stream
from edgeseg.runtime.pipeline.stats import STAGES, Stats

BASELINE = "evs01"  # speedups are relative to it (EVS Table 2's full-rate point)


@dataclass
class SweepOptions:
    repeat: int = 1  # timed passes per operating point; FPS is their median
    warmup: int = 3  # frames per pass kept out of FPS and latency
    backend: str = "onnxrt"
    flow_threads: int = 2


# Farneback's dense polynomial-expansion flow (pyramid scale 0.5, 4 levels, 15 px window, 3 iterations, 5 px
# polynomial, sigma 1.2): an estimator no operating point propagates with, shared by all rows.
FARNEBACK = (0.5, 4, 15, 3, 5, 1.2, 0)


def consistency_flows(clip: Clip, on_pair: Callable[[], None] | None = None) -> list[np.ndarray]:
    """Backward flow (t -> t-1) of every frame by Farneback, not by the DIS the operating points propagate with:
    measured with their own flow and warp, propagated frames would agree with their predecessor by construction.
    ``on_pair`` is called after each of the len(frames) - 1 pairs (a progress bar's ticks)."""
    grays = [to_gray(f) for f in clip.frames]
    flows = []
    for t in range(1, len(grays)):
        flows.append(cv2.calcOpticalFlowFarneback(grays[t], grays[t - 1], None, *FARNEBACK))
        if on_pair is not None:
            on_pair()
    return flows


@lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """x and y of every pixel (2 x h x w float32), made once per frame size: every row's score reuses it."""
    return np.mgrid[0:h, 0:w][::-1].astype(np.float32)


def warp_previous(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Labels of frame t-1 sampled at x + flow(x) (nearest, border replicated), with OpenCV's remap."""
    grid = _pixel_grid(*flow.shape[:2])
    return cv2.remap(labels, grid[0] + flow[..., 0], grid[1] + flow[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)


def temporal_consistency(labels: list[np.ndarray], flows: list[np.ndarray]) -> float:
    """Share of pixels whose label equals the flow-warped previous label, averaged over frame pairs, in %."""
    if len(labels) < 2:
        return float("nan")
    same = [float((labels[t] == warp_previous(labels[t - 1], flows[t - 1])).mean()) for t in range(1, len(labels))]
    return 100.0 * float(np.mean(same))


def _miou(cm: ConfusionMatrix) -> float | None:
    return round(100.0 * cm.miou(), 2) if cm.matrix.sum() else None


def run_point(bundle: Bundle, op: OperatingPoint, clip: Clip, flows: list[np.ndarray] | None, opts: SweepOptions,
              on_frame: Callable[[], None] | None = None) -> dict[str, Any]:
    """Measure one operating point; never raises for a failing point (the row says why)."""
    row: dict[str, Any] = {"profile": op.name, "status": "ok", "D": op.downscale, "S": op.keyframe_interval,
                           "W": op.warp, "R": op.refine, "fusion": op.fusion, "adaptive": op.adaptive is not None,
                           "frames": len(clip.frames), "fps": None, "speedup": None,
                           "latency_ms": {"p50": None, "p99": None}, "stage_ms": {s: None for s in STAGES},
                           "dropped": 0, "keyframes": None, "miou": None, "miou_keyframes": None,
                           "miou_propagated": None, "consistency": None, "frame_ms": {"key": None, "propagated": None},
                           "ideal_speedup": None, "efficiency": None, "error": None}
    try:
        check_graphs(bundle, op)  # a missing graph: the row says which, why it was not exported and what to do
    except EdgesegError as exc:
        row.update(status="export_failed", error=str(exc))
        return row
    # The keyframe cost of the ideal is measured right after each pass, so that both see the same machine: measured
    # once at the end of a sweep, a shared machine's drift alone moved evs01's efficiency (a pass against itself)
    # to 0.91.
    own_keys = _own_keys(op)
    try:
        with Pipeline(bundle, op, backend=opts.backend, flow_threads=opts.flow_threads) as pipe, \
                (nullcontext(None) if own_keys else  # on the point's own engines: one copy of the model in memory
                 Pipeline(bundle, keyframes_only(op), backend=opts.backend, flow_threads=opts.flow_threads,
                          engines=pipe.engine_set)) as keys_pipe:
            passes, labels, keys, key_passes = [], [], [], []
            frame_s: dict[bool, list[float]] = {True: [], False: []}  # per-frame seconds, keyframes and the others
            warmup = min(opts.warmup, len(clip.frames) // 2)
            for rep in range(max(1, opts.repeat)):
                pass_keys: list[float] = []
                pipe.reset()
                pipe.stats = Stats(warmup=warmup)
                for i, done in enumerate(timed_frames(pipe, clip.frames, warmup)):
                    out = done.output
                    if i >= warmup:
                        frame_s[out.keyframe].append(done.seconds)
                        if out.keyframe:
                            pass_keys.append(done.seconds)
                    if rep == 0:
                        labels.append(out.labels)
                        keys.append(out.keyframe)
                    if on_frame is not None:
                        on_frame()
                passes.append(pipe.stats.to_json())
                if own_keys:
                    key_passes.append(statistics.median(pass_keys) if pass_keys else None)
                else:
                    key_passes.append(_key_pass(keys_pipe, clip.frames[:warmup + KEY_SAMPLE], warmup, on_frame))
    except EdgesegError as exc:
        row.update(status="run_failed", error=str(exc))
        return row
    except Exception as exc:  # a bug in one point must not end the sweep; the row says where it happened
        where = traceback.extract_tb(exc.__traceback__)[-1]
        row.update(status="run_failed", error=f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})")
        return row
    measured = sorted((p for p in passes if p["fps"] is not None), key=lambda p: p["fps"])
    best = measured[len(measured) // 2] if measured else passes[0]  # the median pass, whole
    row.update(fps=round(statistics.median(p["fps"] for p in measured), 2) if measured else None,
               latency_ms=best["latency_ms"], stage_ms=best["stage_ms"], dropped=best["dropped"], keyframes=sum(keys))
    if best["fps_note"]:  # why FPS is null, or a caveat of it (no keyframe after the warm-up)
        row["fps_note"] = best["fps_note"]
    row["frame_ms"] = {"key": round(1000 * statistics.median(frame_s[True]), 3) if frame_s[True] else None,
                       "propagated": round(1000 * statistics.median(frame_s[False]), 3) if frame_s[False] else None}
    key_medians = [k for k in key_passes if k is not None]
    if key_medians:
        row["frame_ms"]["back_to_back_key"] = round(1000 * statistics.median(key_medians), 3)
    if clip.labels:
        names = bundle.manifest.classes.names
        ignore = bundle.manifest.classes.ignore_id
        cms = {k: ConfusionMatrix(len(names), ignore) for k in ("all", "key", "prop")}
        for i, truth in clip.labels.items():
            cms["all"].update(labels[i], truth)
            cms["key" if keys[i] else "prop"].update(labels[i], truth)
        row.update(miou=_miou(cms["all"]), miou_keyframes=_miou(cms["key"]), miou_propagated=_miou(cms["prop"]))
    if flows is not None:
        row["consistency"] = round(temporal_consistency(labels, flows), 2)
    return row


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """speedup = fps / fps of evs01 measured in the same sweep (null when evs01 was not run or failed)."""
    base = next((r["fps"] for r in rows if r["profile"] == BASELINE and r["fps"]), None)
    for r in rows:
        r["speedup"] = round(r["fps"] / base, 2) if base and r["fps"] else None


KEY_SAMPLE = 30  # keyframes per back-to-back pass next to each of a point's passes (their median is the cost)


def frames_to_process(op: OperatingPoint, clip: Clip, opts: SweepOptions) -> int:
    """Frames ``run_point`` processes for ``op`` (its passes and the back-to-back keyframe passes next to them),
    each reported through ``on_frame``: a progress bar's total."""
    keys = 0 if _own_keys(op) else min(len(clip.frames), min(opts.warmup, len(clip.frames) // 2) + KEY_SAMPLE)
    return max(1, opts.repeat) * (len(clip.frames) + keys)


def _own_keys(op: OperatingPoint) -> bool:
    """Every frame a keyframe (S = 1, not adaptive): the point is its own back-to-back keyframe run."""
    return op.keyframe_interval == 1 and op.adaptive is None


def keyframes_only(op: OperatingPoint) -> OperatingPoint:
    """The point with every frame a keyframe at its D (with its fusion): no flow-warp, no refinement, S = 1."""
    return replace(op, name=f"{op.name}-keyframes", keyframe_interval=1, adaptive=None, warp=False, refine=False)


def timed_frames(pipe: Pipeline, frames: list[np.ndarray], warmup: int | None = None) -> Iterator[Delivered]:
    """``frames`` through ``pipe`` in order, by the one frame loop (a Session the pipeline outlives); each
    with the pipeline's seconds on it."""
    session = Session([Stream(pipe.op.name, FrameListSource(frames), pipe)], warmup=warmup, owns_pipelines=False)
    for tick in session.ticks():
        yield tick.frames[0]


def _key_pass(pipe: Pipeline, frames: list[np.ndarray], warmup: int, on_frame: Callable[[], None] | None
              ) -> float | None:
    """Median seconds of a keyframe over ``frames`` after ``warmup``, every frame a keyframe."""
    pipe.reset()
    times = []
    for i, done in enumerate(timed_frames(pipe, frames)):
        if i >= warmup:
            times.append(done.seconds)
        if on_frame is not None:
            on_frame()
    return statistics.median(times) if times else None


def add_ideal(rows: list[dict[str, Any]]) -> None:
    """ideal_speedup and efficiency of every row (DESIGN.md "Profiler result").

    Ideal time per frame = (keyframe cost at the point's D, measured back to back next to the point's own passes
    (``frame_ms.back_to_back_key``), + (S - 1) x the point's own median non-key frame cost) / S, with S the point's
    frames per keyframe (adaptive points: as run); ideal_speedup = evs01's time per frame / that; efficiency =
    speedup / ideal_speedup.
    """
    base = next((r for r in rows if r["profile"] == BASELINE and r["fps"]), None)
    for r in rows:
        if base is None or not r["fps"] or not r["keyframes"] or not r["speedup"]:
            continue
        key = r["frame_ms"].get("back_to_back_key")
        if key is None:
            continue
        s = r["frames"] / r["keyframes"]
        other = r["frame_ms"]["propagated"] or 0.0
        ideal_ms = (key + (s - 1) * other) / s
        r["ideal_speedup"] = round((1000 / base["fps"]) / ideal_ms, 2)
        r["efficiency"] = round(r["speedup"] / r["ideal_speedup"], 2)


def sweep(bundle: Bundle, ops: list[OperatingPoint], clip: Clip, opts: SweepOptions | None = None,
          on_frame: Callable[[], None] | None = None, on_row: Callable[[dict[str, Any]], None] | None = None,
          *, progress: bool = False) -> list[dict[str, Any]]:
    """Every operating point on ``clip``, in order; one row each (failing points are marked, the sweep goes on).

    ``progress``: labelled bars on stderr, one per phase, so each has its own rate and ETA: the consistency flows
    (computed once before any point runs), then one bar per operating point ("profiling evs07 (2/3)") that ends
    with the point's status and FPS. ``on_frame`` and ``on_row`` are called either way."""
    opts = opts or SweepOptions()
    flows = None
    if len(clip.frames) > 1:
        with _bar(progress, len(clip.frames) - 1, "consistency flows (Farneback)", "pair") as bar:
            flows = consistency_flows(clip, on_pair=bar.update)
    rows = []
    for k, op in enumerate(ops, 1):
        with _bar(progress, frames_to_process(op, clip, opts), f"profiling {op.name} ({k}/{len(ops)})", "frame") as bar:
            def tick(bar: Any = bar) -> None:
                bar.update()
                if on_frame is not None:
                    on_frame()
            rows.append(run_point(bundle, op, clip, flows, opts, tick))
            row = rows[-1]
            bar.set_postfix_str(row["status"] + (f" {row['fps']:.1f} FPS" if row["fps"] else ""), refresh=False)
            if bar.n < (bar.total or 0):  # a point that failed early: its bar ends where it stopped, not as if waiting
                bar.total = bar.n
            bar.refresh()
        if on_row is not None:
            on_row(row)
    add_speedups(rows)
    add_ideal(rows)
    return rows


def _bar(progress: bool, total: int, desc: str, unit: str) -> Any:
    """A labelled tqdm bar on stderr for one phase (a no-op when ``progress`` is off)."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=not progress)


def measure(bundle: str | Path | Bundle, source: str, labels: str | None, names: list[str], frames: int,
            opts: SweepOptions, progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]], Clip]:
    """(machine description, one row per operating point, the clip) for up to ``frames`` frames of ``source``, with a
    labelled progress bar per phase (decoding, consistency flows, each point): ``edgeseg profile`` and ``demo``."""
    if frames < 2:
        raise UsageError("--frames must be at least 2 (propagation needs a previous frame)")
    if opts.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    ops = [load_profile(n) for n in names]
    clip = load_clip(source, frames, progress=progress)
    if labels:
        attach_labels(clip, labels)
    rows = sweep(bundle, ops, clip, opts, progress=progress)
    return machine_info(opts.backend), rows, clip
