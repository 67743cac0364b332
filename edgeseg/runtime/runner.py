"""Feed a Pipeline from a Source into a Sink, in ``sync`` or ``live`` mode.

sync: every frame is processed in order (deterministic; what accuracy is measured with).
live: a reader thread keeps only the newest frame; frames replaced before the pipeline took them are
counted as dropped, so latency stays bounded when the source is faster than the pipeline
(frames processed + dropped = frames read).

A live source that times out is reopened with exponential back-off up to ``retries`` times, then the run
ends cleanly. A stop event (SIGINT/SIGTERM in the CLI) ends the run after the current frame; the sink
is always closed (video finalised) and the stats returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgeseg.runtime.pipeline import Pipeline
from edgeseg.runtime.sinks import Sink, SinkError
from edgeseg.runtime.sources import CaptureSource, Read, Source, Status, wait_backoff
from edgeseg.runtime.stats import rss_mb


@dataclass
class RunResult:
    stats: dict[str, Any]
    end: str  # end_of_stream | max_frames | stopped | source_error | source_lost | sink_failed
    error: str = ""
    outputs: list[Any] = field(default_factory=list)


def read_with_retries(source: Source, retries: int, stop: threading.Event) -> Read:
    attempt = 0
    while True:
        r = source.read()
        if r.status is not Status.TIMEOUT:
            return r
        if attempt >= retries or stop.is_set():
            return Read(Status.END, reason=f"live source lost: no frame after {retries} reconnection attempts")
        wait_backoff(attempt)
        attempt += 1
        if isinstance(source, CaptureSource):
            source.reopen()


def timed_read(source: Source, stats: Any, retries: int, stop: threading.Event) -> tuple[Read, float]:
    """The next read of ``source`` (retried) and when it began; a frame is counted as read, its decode time as a stage."""
    t = time.perf_counter()
    r = read_with_retries(source, retries, stop)
    if r.status is Status.FRAME:
        stats.read += 1
        stats.add_stage("decode", time.perf_counter() - t)
    return r, t


def end_of(r: Read) -> tuple[str, str]:
    """(end, error) of the run for a read that returned no frame."""
    if r.status is Status.ERROR:
        return "source_error", r.reason
    return ("source_lost", r.reason) if r.reason else ("end_of_stream", "")


def run(pipeline: Pipeline, source: Source, sink: Sink, mode: str = "sync", max_frames: int | None = None,
        retries: int = 5, stop: threading.Event | None = None, on_frame: Callable[[Any, Any], None] | None = None,
        keep_outputs: bool = False) -> RunResult:
    """Run until end of stream, ``max_frames``, a source error or ``stop``; always closes the sink."""
    stop = stop or threading.Event()
    stats = pipeline.stats
    stats.begin()
    rss_start = rss_mb()
    result = RunResult(stats={}, end="end_of_stream")
    try:
        if mode == "live":
            _run_live(pipeline, source, sink, max_frames, retries, stop, on_frame, result, keep_outputs)
        else:
            _run_sync(pipeline, source, sink, max_frames, retries, stop, on_frame, result, keep_outputs)
    except SinkError as exc:  # the output cannot be written (disk full, refused): end the run, keep the stats
        result.end, result.error = "sink_failed", str(exc)
    finally:
        try:
            sink.close()
        except SinkError as exc:
            if result.end != "sink_failed":
                result.end, result.error = "sink_failed", str(exc)
        finally:
            source.close()
    result.stats = {**stats.to_json(), "mode": mode, "end": result.end, "error": result.error or None,
                    "rss_mb": {"start": rss_start, "end": rss_mb()}}
    return result


def _deliver(pipeline: Pipeline, sink: Sink, r: Read, arrival: float, on_frame: Callable | None,
             result: RunResult, keep: bool) -> None:
    out = pipeline.process(r.frame, arrival)
    t = time.perf_counter()
    sink.write(r.frame, out.labels, out.index, r.name)
    pipeline.stats.add_render(time.perf_counter() - t)
    if keep:
        result.outputs.append(out)
    if on_frame is not None:
        on_frame(out, pipeline.stats)


def _run_sync(pipeline: Pipeline, source: Source, sink: Sink, max_frames: int | None, retries: int,
              stop: threading.Event, on_frame: Callable | None, result: RunResult, keep: bool) -> None:
    stats = pipeline.stats
    while not stop.is_set():
        if max_frames is not None and stats.frames >= max_frames:
            result.end = "max_frames"
            return
        r, t = timed_read(source, stats, retries, stop)
        if r.status is not Status.FRAME:
            result.end, result.error = end_of(r)
            return
        _deliver(pipeline, sink, r, t, on_frame, result, keep)
    result.end = "stopped"


class LatestFrame:
    """A reader thread that keeps only the newest frame of a source (live mode): a frame replaced before it was
    taken is counted as dropped in ``stats``, so processed + dropped = read."""

    def __init__(self, source: Source, stats: Any, retries: int, stop: threading.Event):
        self.source, self.stats, self.retries, self.stop = source, stats, retries, stop
        self._slot: list[tuple[Read, float, float]] = []  # newest (read, arrival, decode seconds)
        self._done: list[Read] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="edgeseg-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        source = self.source
        while not self.stop.is_set():
            t = time.perf_counter()
            r = read_with_retries(source, self.retries, self.stop)
            with self._cond:
                if r.status is not Status.FRAME:
                    self._done.append(r)
                    self._cond.notify()
                    return
                self.stats.read += 1
                if self._slot:
                    self.stats.dropped += 1  # replaced before the pipeline took it
                    self._slot.clear()
                self._slot.append((r, t, time.perf_counter() - t))
                self._cond.notify()
            if source.fps and not source.live:  # a file played "live" is paced at its own rate
                time.sleep(max(0.0, 1.0 / source.fps - (time.perf_counter() - t)))

    def take(self, wait: float = 0.1) -> tuple[Read, float, float] | Read | None:
        """The newest (read, arrival, decode seconds); the ending Read once the source ended; None if nothing came."""
        with self._cond:
            if not self._slot and not self._done:
                self._cond.wait(wait)
            if self._slot:
                return self._slot.pop()
            return self._done[0] if self._done else None

    def close(self) -> None:
        """Stop reading; a frame read but never taken counts as dropped."""
        self.stop.set()
        self._thread.join(timeout=5)
        with self._cond:
            self.stats.dropped += len(self._slot)
            self._slot.clear()


def _run_live(pipeline: Pipeline, source: Source, sink: Sink, max_frames: int | None, retries: int,
              stop: threading.Event, on_frame: Callable | None, result: RunResult, keep: bool) -> None:
    stats = pipeline.stats
    latest = LatestFrame(source, stats, retries, stop)
    try:
        while not stop.is_set():
            if max_frames is not None and stats.frames >= max_frames:
                result.end = "max_frames"
                return
            item = latest.take()
            if item is None:
                continue
            if isinstance(item, Read):
                result.end, result.error = end_of(item)
                return
            read, arrival, decode = item
            stats.add_stage("decode", decode)
            _deliver(pipeline, sink, read, arrival, on_frame, result, keep)
        result.end = "stopped"
    finally:
        latest.close()
