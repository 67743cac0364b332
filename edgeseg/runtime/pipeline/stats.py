"""Per-stage timers and run statistics (the ``--stats`` JSON and the profiler's rows)."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import defaultdict, deque
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

STAGES = ("decode", "flow", "warp", "segment", "refine", "fuse", "render")
LATENCY_WINDOW = 10_000  # latency percentiles cover the most recent frames: memory stays flat on endless runs


def rss_mb() -> float | None:
    """Resident memory of this process in MB (Linux /proc; None where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


class Stats:
    """Accumulates stage times and frame latencies; the first ``warmup`` frames are not counted."""

    def __init__(self, warmup: int = 3):
        self.warmup = warmup
        self.frames = 0  # frames processed (warm-up included)
        self.keyframes = 0
        self.dropped = 0
        self.read = 0
        self.outages = 0  # a live source's reads timed out, then frames came again (reconnected)
        self.outage_seconds = 0.0
        self.longest_outage = 0.0
        self._stage: dict[str, float] = defaultdict(float)
        self._frame_stage: dict[str, float] = defaultdict(float)
        self.refined = self.tiled = self.tiles = 0  # refined frames, those refined by tiles, their tiles
        self._frame_tiles: int | None = None  # this frame was refined on that many tiles (0: the full frame)
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.start: float | None = None
        self.end: float | None = None
        self._lock = threading.Lock()  # live mode times keyframe inference on another thread

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add_stage(name, time.perf_counter() - t)

    def add_stage(self, name: str, seconds: float) -> None:
        with self._lock:
            self._frame_stage[name] += seconds

    def add_outage(self, seconds: float) -> None:
        """A live source gave no frame for ``seconds``, then came back."""
        with self._lock:
            self.outages += 1
            self.outage_seconds += seconds
            self.longest_outage = max(self.longest_outage, seconds)

    def add_refinement(self, tiles: int) -> None:
        """The frame in progress was refined, on ``tiles`` tiles (0: the full frame)."""
        with self._lock:
            self._frame_tiles = tiles

    def add_render(self, seconds: float) -> None:
        """Render time of the frame just finished (the sink runs after ``frame_done``)."""
        if self.frames > self.warmup:
            self._stage["render"] += seconds

    def begin(self) -> None:
        """Mark the start of the run (the FPS clock starts here when there is no warm-up)."""
        self.start = time.perf_counter()

    def frame_done(self, latency_s: float, keyframe: bool) -> None:
        with self._lock:
            self._frame_done(latency_s, keyframe)

    def _frame_done(self, latency_s: float, keyframe: bool) -> None:
        self.frames += 1
        now = time.perf_counter()
        if self.start is None:
            self.start = now - latency_s
        if self.frames <= self.warmup:
            self.start = now  # the FPS clock starts when the last warm-up frame is out
        else:
            self.keyframes += keyframe
            self.latencies.append(latency_s)
            for k, v in self._frame_stage.items():
                self._stage[k] += v
            if self._frame_tiles is not None:
                self.refined += 1
                self.tiled += self._frame_tiles > 0
                self.tiles += self._frame_tiles
            self.end = now
        self._frame_stage.clear()
        self._frame_tiles = None

    @property
    def counted(self) -> int:
        return max(0, self.frames - self.warmup)

    @property
    def fps(self) -> float:
        if self.start is None or self.end is None or self.end <= self.start:
            return float("nan")
        return self.counted / (self.end - self.start)

    @property
    def unmeasured(self) -> str | None:
        """Why FPS and latency could not be measured (None when they were)."""
        if self.counted == 0 or math.isnan(self.fps):
            return (f"too short to measure: {self.frames} frame(s), all within the {self.warmup} warm-up frame(s) "
                    "that FPS and latency exclude (--warmup)")
        return None

    @property
    def caveat(self) -> str | None:
        """Why a measured FPS overstates the point's rate: every keyframe fell in the warm-up (a clip shorter than a
        few keyframe intervals), so FPS counts propagated frames only. None when there is nothing to say."""
        if self.unmeasured is None and self.keyframes == 0 and self.frames > self.counted:
            return (f"no keyframe after the {self.warmup} warm-up frame(s): FPS and latency count propagated frames "
                    "only; run more frames than the keyframe interval")
        return None

    def to_json(self) -> dict[str, Any]:
        """The run's figures; FPS and latency are null, with ``fps_note`` saying why, when nothing was measured;
        ``fps_note`` also names a caveat of a measured FPS (no keyframe after the warm-up)."""
        return summarize([self])


def summarize(parts: list[Stats]) -> dict[str, Any]:
    """The figures of one stream (``[stats]``) or the totals of several, in one shape: counts add up, latency
    percentiles are over every stream's frames, stage ms are per counted frame of all streams, and FPS is all
    streams' counted frames over the time from the first stream's start to the last one's end."""
    counted = sum(p.counted for p in parts)
    frames = sum(p.frames for p in parts)
    lat = np.concatenate([np.asarray(p.latencies, float) for p in parts]) * 1000 if parts else np.zeros(0)
    starts = [p.start for p in parts if p.start is not None and p.end is not None]
    ends = [p.end for p in parts if p.end is not None]
    wall = max(ends) - min(starts) if starts and ends else 0.0
    unmeasured = parts[0].unmeasured if len(parts) == 1 else (None if counted and wall > 0 else
                                                              "too short to measure: every frame fell in the warm-up (--warmup)")
    measured = unmeasured is None and lat.size > 0 and wall > 0
    caveat = parts[0].caveat if len(parts) == 1 else None
    n = max(1, counted)

    def pct(q: float) -> float | None:
        return round(float(np.percentile(lat, q)), 3) if measured else None
    stage = {s: sum(p._stage.get(s, 0.0) for p in parts) for s in STAGES}
    return {"frames": frames, "counted_frames": counted, "warmup_frames": sum(min(p.frames, p.warmup) for p in parts),
            "keyframes": sum(p.keyframes for p in parts), "fps": round(counted / wall, 3) if measured else None,
            "fps_note": unmeasured or caveat,
            "latency_ms": {"p50": pct(50), "p99": pct(99), "mean": round(float(lat.mean()), 3) if measured else None},
            "stage_ms": {s: round(1000 * v / n, 3) for s, v in stage.items()},
            "refinement": {"frames": sum(p.refined for p in parts), "tiled_frames": sum(p.tiled for p in parts),
                           "tiles": sum(p.tiles for p in parts)},
            "dropped": sum(p.dropped for p in parts), "read": sum(p.read for p in parts),
            "outages": {"count": sum(p.outages for p in parts), "seconds": round(sum(p.outage_seconds for p in parts), 3),
                        "longest_s": round(max((p.longest_outage for p in parts), default=0.0), 3)}}
