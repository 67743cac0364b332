"""Several cameras in one process: one engine per graph shared by every stream, each stream with its own
pipeline state, frames taken round-robin (one per stream per tick), keyframes staggered across streams.

With N streams under an operating point of keyframe interval S, N streams that key on the same tick make
that tick N keyframes long while the others are cheap. Staggering gives stream i the keyframe phase
(i * S) // N after the first tick, so at most ceil(N / S) streams key in any later tick. Adaptive points
re-key when flow is unreliable, so phases drift; there a tick keys at most ceil(N / S) streams (S = the
point's max_interval) and the others whose re-keying is due wait, longest-waiting first: each waits less
than N / ceil(N / S) <= S ticks (at most S - 1 when N is a multiple of S).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeseg.runtime.pipeline import FrameOutput, Pipeline
from edgeseg.runtime.runner import LatestFrame, end_of, timed_read
from edgeseg.runtime.sinks import Sink, SinkError
from edgeseg.runtime.sources import Read, Source, Status


@dataclass
class Stream:
    """One source, its pipeline (own state, shared engines) and its sink (None: it goes into the mosaic)."""

    name: str
    source: Source
    pipeline: Pipeline
    sink: Sink | None = None
    end: str = ""  # why it ended ("" while it runs)
    error: str = ""
    waited: int = 0  # ticks its due keyframe has been put off
    reader: LatestFrame | None = None
    last: tuple[np.ndarray, np.ndarray] | None = None  # latest (rgb, labels), for the mosaic

    def summary(self) -> dict[str, Any]:
        s = self.pipeline.stats.to_json()
        return {"source": self.name, "frames": s["frames"], "fps": s["fps"], "fps_note": s["fps_note"],
                "latency_ms": {"p50": s["latency_ms"]["p50"], "p99": s["latency_ms"]["p99"]}, "keyframes": s["keyframes"],
                "stage_ms": s["stage_ms"], "dropped": s["dropped"], "read": s["read"], "end": self.end or "running",
                "error": self.error or None}


def switch_all(streams: list[Stream], op: Any) -> None:
    """Every stream to ``op`` (their next frames are keyframes); the first stream's engines stay the shared ones."""
    first = streams[0].pipeline
    first.switch(op)
    for s in streams[1:]:
        s.pipeline.switch(op, engines=first.engines)


@dataclass
class MultiResult:
    streams: list[dict[str, Any]]
    tick_ms: dict[str, float | None]
    ticks: int
    fps: float | None  # frames of all streams per second of wall time (warm-up ticks excluded)
    end: str
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"streams": self.streams, "tick_ms": self.tick_ms, "ticks": self.ticks, "fps": self.fps, "end": self.end,
                "errors": self.errors or None}


def key_budget(streams: int, op_period: int) -> int:
    """Keyframes allowed in one tick when staggering: ceil(N / S)."""
    return max(1, math.ceil(streams / max(1, op_period)))


def mosaic(tiles: list[tuple[np.ndarray, np.ndarray] | None]) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) of a grid with one place per stream (ceil(sqrt(N)) columns), each tile scaled to the first
    available one's size; a stream with no frame yet is a black tile, so the grid never changes shape."""
    import cv2
    h, w = next(t for t in tiles if t is not None)[0].shape[:2]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    rgb = np.zeros((rows * h, cols * w, 3), np.uint8)
    labels = np.zeros((rows * h, cols * w), np.uint8)
    for k, tile in enumerate(tiles):
        if tile is None:
            continue
        frame, lab = tile
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h))
            lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
        y, x = (k // cols) * h, (k % cols) * w
        rgb[y:y + h, x:x + w], labels[y:y + h, x:x + w] = frame, lab
    return rgb, labels


def run_streams(streams: list[Stream], mosaic_sink: Sink | None = None, mode: str = "sync", stagger: bool = True,
                max_frames: int | None = None, retries: int = 5, stop: threading.Event | None = None,
                warmup_ticks: int = 3, on_tick: Callable[[int, dict[str, FrameOutput]], None] | None = None) -> MultiResult:
    """Round-robin ticks until every stream ended, ``max_frames`` ticks, or ``stop``; sinks are always closed.

    A stream whose source ends or fails ends alone (its reason in its summary); the others go on.
    """
    stop = stop or threading.Event()
    for s in streams:
        s.pipeline.stats.begin()
        if mode == "live":
            s.reader = LatestFrame(s.source, s.pipeline.stats, retries, stop)
    ticks: list[float] = []  # seconds of each tick after the warm-up ticks
    tick, counted = 0, 0
    start = time.perf_counter() if warmup_ticks == 0 else None
    end, errors = "end_of_stream", []
    try:
        while any(not s.end for s in streams):
            if stop.is_set():
                end = "stopped"
                break
            if max_frames is not None and tick >= max_frames:
                end = "max_frames"
                break
            t0 = time.perf_counter()
            frames = {id(s): f for s in streams if not s.end for f in [_next(s, retries, stop)] if f is not None}
            active = [s for s in streams if id(s) in frames]
            if not active:
                time.sleep(0.002)  # live: no stream has a new frame yet
                continue
            op = streams[0].pipeline.op  # read every tick: the live page may switch it
            period = op.adaptive.max_interval if op.adaptive else op.keyframe_interval
            deferred = _deferred(active, frames, key_budget(len(streams), period) if stagger else len(streams))
            outputs: dict[str, FrameOutput] = {}
            for s in active:
                read, arrival = frames[id(s)]
                out = outputs[s.name] = s.pipeline.process(read.frame, arrival, defer_key=id(s) in deferred)
                s.waited = s.waited + 1 if id(s) in deferred else 0
                if stagger and out.keyframe and out.index == 0:  # phases: stream i keys (i * S) // N frames early
                    s.pipeline.shift_phase((streams.index(s) * period) // len(streams))
                _write(s, read, out.labels, out.index, errors)
            if mosaic_sink is not None and not _write_mosaic(mosaic_sink, streams, tick, errors):
                end = "sink_failed"
                break
            tick += 1
            if tick > warmup_ticks:
                ticks.append(time.perf_counter() - t0)
                counted += len(active)
            elif tick == warmup_ticks:
                start = time.perf_counter()
            if on_tick is not None:
                on_tick(tick - 1, outputs)
    finally:
        stop.set()
        for s in streams:
            s.end = s.end or end
            if s.reader is not None:
                s.reader.close()
            _close(s, errors)
        if mosaic_sink is not None:
            try:
                mosaic_sink.close()
            except SinkError as exc:
                end = "sink_failed"
                errors.append(str(exc))
    wall = time.perf_counter() - start if start is not None else 0.0
    ms = np.asarray(ticks) * 1000
    return MultiResult(streams=[s.summary() for s in streams],
                       tick_ms={"p50": round(float(np.percentile(ms, 50)), 3) if ms.size else None,
                                "p99": round(float(np.percentile(ms, 99)), 3) if ms.size else None},
                       ticks=tick, fps=round(counted / wall, 2) if wall > 0 and counted else None, end=end, errors=errors)


def _deferred(active: list[Stream], frames: dict[int, tuple[Read, float]], budget: int) -> set[int]:
    """Streams whose due keyframe waits this tick: beyond the budget, those that waited least (fusion points,
    first frames and size changes always key)."""
    due = [s for s in active if s.pipeline.is_keyframe(frames[id(s)][0].frame)]
    movable = sorted((s for s in due if s.pipeline.can_defer(frames[id(s)][0].frame)), key=lambda s: -s.waited)
    keep = max(0, budget - (len(due) - len(movable)))
    return {id(s) for s in movable[keep:]}


def _write_mosaic(sink: Sink, streams: list[Stream], tick: int, errors: list[str]) -> bool:
    try:
        sink.write(*mosaic([s.last for s in streams]), tick)
        return True
    except SinkError as exc:
        errors.append(str(exc))
        return False


def _next(s: Stream, retries: int, stop: threading.Event) -> tuple[Read, float] | None:
    """The stream's frame for this tick (sync: the next one; live: the newest), or None when it has none."""
    if s.reader is not None:
        item = s.reader.take(wait=0)  # never wait on one camera while the others have frames
        if item is None:
            return None
        if isinstance(item, Read):
            s.end, s.error = end_of(item)
            return None
        read, arrival, decode = item
        s.pipeline.stats.add_stage("decode", decode)
        return read, arrival
    r, t = timed_read(s.source, s.pipeline.stats, retries, stop)
    if r.status is not Status.FRAME:
        s.end, s.error = end_of(r)
        return None
    return r, t


def _write(s: Stream, read: Read, labels: np.ndarray, index: int, errors: list[str]) -> None:
    s.last = (read.frame, labels)
    if s.sink is None:
        return
    try:
        s.sink.write(read.frame, labels, index, read.name)
    except SinkError as exc:  # this stream's output failed: it ends, the others go on
        s.end, s.error = "sink_failed", str(exc)
        errors.append(f"{s.name}: {exc}")


def _close(s: Stream, errors: list[str]) -> None:
    try:
        if s.sink is not None:
            s.sink.close()
    except SinkError as exc:
        s.end, s.error = "sink_failed", str(exc)
        errors.append(f"{s.name}: {exc}")
    finally:
        s.source.close()
