"""``Session``: the one frame loop. N >= 1 streams (a source, its pipeline, its sink) on one ``EngineSet``, in
``sync`` or ``live`` mode, with observers (a status line, the live view, the profiler's timers) and controls (the
live view's operating-point switch). ``edgeseg run`` (one camera or several), ``Segmenter.stream``, the profiler,
the demo and ``edgeseg batch`` all drive their frames through ``Session.ticks()``.

sync: every frame of every source in order, one frame per stream per tick (deterministic; what accuracy is
measured with). live: a reader thread per source keeps only its newest frame; a frame replaced before the pipeline
took it counts as dropped (processed + dropped = read), and each pipeline segments its keyframes in the background
(``Pipeline(overlap=True)``) while later frames are propagated.

Staggering: with N streams under a point of keyframe interval S, stream i gets the keyframe phase (i * S) // N
after the first tick, so at most ceil(N / S) streams key in any later tick. Adaptive points re-key when flow is
unreliable, so phases drift; there a tick keys at most ceil(N / S) streams (S = the point's max_interval) and the
others whose re-keying is due wait, longest-waiting first: each waits less than N / ceil(N / S) <= S ticks.

A live source that times out is reopened with back-off until ``reconnect_s`` seconds pass without a frame (default
60 s; inf: forever), then its stream ends ``source_lost``; outages it survives are counted and timed in the stats.
A stream whose source ends or fails, or whose sink fails, ends alone; the others go on. ``stop`` (SIGINT/SIGTERM
in the CLI) ends the session after the current tick; sinks and sources are always closed.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edgeseg._uri import redact_uri
from edgeseg.errors import EdgesegError
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.io.mosaic import mosaic
from edgeseg.runtime.io.sinks import Sink, SinkError
from edgeseg.runtime.io.sources import CaptureSource, Read, Source, Status
from edgeseg.runtime.operating_point import OperatingPoint
from edgeseg.runtime.pipeline.core import FrameOutput, Pipeline, check_graphs, graphs_to_open
from edgeseg.runtime.pipeline.stats import rss_mb, summarize


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0, 1, ...): 0.1 s doubling, capped at 2 s."""
    return min(2.0, 0.1 * 2 ** min(attempt, 5))


def read_reconnecting(source: Source, reconnect_s: float, stop: threading.Event, stats: Any = None) -> Read:
    """The next read of ``source``. A live source that times out is reopened with back-off (0.1 s doubling to 2 s)
    until a frame comes or ``reconnect_s`` seconds have passed without one (inf: forever), then it is lost.
    An outage that ends with frames again is counted in ``stats`` (``outages``, ``outage_seconds``)."""
    attempt = 0
    began: float | None = None
    while True:
        r = source.read()
        if r.status is not Status.TIMEOUT:
            if began is not None and r.status is Status.FRAME and stats is not None:
                stats.add_outage(time.perf_counter() - began)
            return r
        now = time.perf_counter()
        began = now if began is None else began
        if stop.is_set():
            return Read(Status.END)
        if now - began >= reconnect_s:
            return Read(Status.END, reason=f"live source lost: no frame for {now - began:.1f} s "
                                           f"(--reconnect {reconnect_s:g} s; inf: keep trying)")
        stop.wait(min(backoff_delay(attempt), max(0.0, reconnect_s - (now - began))))  # a stop ends the wait
        attempt += 1
        if isinstance(source, CaptureSource) and not stop.is_set():
            source.reopen()


MIN_SIDE = 16  # the backbone's coarsest stride: a smaller frame has no pixel at 1/16


def rgb_of(r: Read) -> np.ndarray:
    """The frame of a read whose status is FRAME."""
    assert r.frame is not None, "a FRAME read without a frame"
    return r.frame


def end_of(r: Read) -> tuple[str, str]:
    """(end, error) of a stream for a read that returned no frame."""
    if r.status is Status.ERROR:
        return "source_error", r.reason
    return ("source_lost", r.reason) if r.reason else ("end_of_stream", "")


class LatestFrame:
    """A reader thread that keeps only the newest frame of a source (live mode): a frame replaced before it was
    taken is counted as dropped in ``stats``, so processed + dropped = read."""

    def __init__(self, source: Source, stats: Any, reconnect_s: float, stop: threading.Event):
        self.source, self.stats, self.reconnect_s, self.stop = source, stats, reconnect_s, stop
        self._slot: list[tuple[Read, float, float]] = []  # newest (read, arrival, decode seconds)
        self._done: list[Read] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="edgeseg-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._read_until_end()
        except Exception as exc:  # noqa: BLE001 (any failure of the source ends its stream with the reason)
            with self._cond:
                self._done.append(Read(Status.ERROR, reason=f"reading the source failed: {exc}"))
                self._cond.notify()

    def _read_until_end(self) -> None:
        source = self.source
        while not self.stop.is_set():
            t = time.perf_counter()
            r = read_reconnecting(source, self.reconnect_s, self.stop, self.stats)
            arrival = time.perf_counter()  # latency counts from here: the wait for the frame is decode time
            with self._cond:
                if r.status is not Status.FRAME:
                    self._done.append(r)
                    self._cond.notify()
                    return
                self.stats.read += 1
                if self._slot:
                    self.stats.dropped += 1  # replaced before the pipeline took it
                    self._slot.clear()
                self._slot.append((r, arrival, arrival - t))
                self._cond.notify()
            if source.fps and not source.live:  # a file played "live" is paced at its own rate
                time.sleep(max(0.0, 1.0 / source.fps - (time.perf_counter() - t)))

    def take(self, wait: float = 0.1) -> tuple[Read, float, float] | Read | None:
        """The newest (read, arrival, decode seconds); the ending Read once the source ended; None if nothing came."""
        with self._cond:
            if not self._slot and not self._done and wait > 0:
                self._cond.wait(wait)
            if self._slot:
                return self._slot.pop()
            return self._done[0] if self._done else None

    def close(self) -> None:
        """Stop reading; a frame read but never taken counts as dropped. Waits for the reader (a read or a reopen of a
        network stream may take its --latency twice) so the source is not released under it."""
        self.stop.set()
        self._thread.join(timeout=15)
        with self._cond:
            self.stats.dropped += len(self._slot)
            self._slot.clear()


@dataclass
class Stream:
    """One source, its pipeline (own state, the session's engines) and its sink (None: only the mosaic or a view
    shows it)."""

    name: str
    source: Source
    pipeline: Pipeline
    sink: Sink | None = None
    end: str = ""  # why it ended ("" while it runs)
    error: str = ""
    waited: int = 0  # ticks its due keyframe has been put off
    reader: LatestFrame | None = None
    last: tuple[np.ndarray, np.ndarray] | None = None  # latest (rgb, labels), for the mosaic and the live view
    size: tuple[int, int] | None = None  # the frame size now (a change restarts the pipeline at the new size)
    size_changes: int = 0

    def summary(self) -> dict[str, Any]:
        """This stream's figures: the same fields as the session's totals, plus its name, how it ended, frames a
        damaged file lost and how often the frame size changed."""
        return {"source": self.name, **self.pipeline.stats.to_json(), "end": self.end or "running",
                "error": self.error or None, "skipped_frames": self.source.skipped, "size_changes": self.size_changes}

    def check_size(self, rgb: np.ndarray) -> str:
        """'' for a frame the pipeline can take; else why not. A new size is said and counted (the pipeline restarts
        at it by itself: its state belongs to the old size, so the frame is a keyframe)."""
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            return f"frames of {w}x{h} are too small to segment (edgeseg needs at least {MIN_SIDE}x{MIN_SIDE})"
        if self.size is not None and (h, w) != self.size:
            self.size_changes += 1
            print(f"edgeseg: {self.name}: frame size changed from {self.size[1]}x{self.size[0]} to {w}x{h}; "
                  "the pipeline restarts at the new size", file=sys.stderr)
        self.size = (h, w)
        return ""


@dataclass
class Delivered:
    """One frame of one stream, processed in a tick."""

    stream: Stream
    read: Read
    output: FrameOutput
    seconds: float  # the pipeline's time on it (process only: no decode, no sink)


@dataclass
class Tick:
    index: int
    frames: list[Delivered]


class Observer(Protocol):
    """Told of every tick after its frames were written (a status line, the live view, a profiler's timer)."""

    def on_tick(self, session: Session, tick: Tick) -> None: ...


class Control(Protocol):
    """Asks for an operating point by name between ticks (the live view's selector); None: nothing asked."""

    def take_request(self) -> str | None: ...


@dataclass
class SessionResult:
    end: str  # end_of_stream | max_frames | stopped | source_error | source_lost | sink_failed
    error: str
    stats: dict[str, Any]  # the totals, "streams" (one entry each, same fields), ticks, tick_ms, mode, end
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """A source failed or was lost, or an output could not be written (the CLI's exit code 1)."""
        return self.end == "sink_failed" or any(s["end"] in ("source_error", "source_lost", "sink_failed")
                                                for s in self.stats["streams"])


def key_budget(streams: int, op_period: int) -> int:
    """Keyframes allowed in one tick when staggering: ceil(N / S)."""
    return max(1, math.ceil(streams / max(1, op_period)))


class Session:
    """Drive ``streams`` tick by tick until every stream ended, ``max_frames`` ticks, or ``stop``.

    ``engines``: the EngineSet the streams' pipelines share; the session closes it (and the pipelines) when
    ``owns_pipelines``, else the caller keeps them (a Segmenter, the profiler's passes). Sources and sinks are
    always closed at the end. ``warmup``: frames per stream (and ticks) kept out of FPS and latency (None: as the
    pipelines' stats say). ``resolve`` turns a control's request into an OperatingPoint.
    """

    def __init__(self, streams: list[Stream], *, mode: str = "sync", mosaic: Sink | None = None, stagger: bool = True,
                 max_frames: int | None = None, reconnect_s: float = 60.0, warmup: int | None = 3,
                 stop: threading.Event | None = None, engines: EngineSet | None = None, owns_pipelines: bool = True,
                 observers: Sequence[Observer] = (), controls: Sequence[Control] = (),
                 resolve: Callable[[str], OperatingPoint] | None = None):
        if not streams:
            raise ValueError("a session needs at least one stream")
        if controls and resolve is None:
            raise ValueError("controls ask for operating points by name: give resolve")
        self.streams, self.mode, self.mosaic_sink, self.stagger = streams, mode, mosaic, stagger
        self.max_frames, self.reconnect_s, self.warmup = max_frames, reconnect_s, warmup
        self.stop = stop or threading.Event()
        self.engines, self.owns_pipelines = engines, owns_pipelines
        self.observers, self.controls, self.resolve = list(observers), list(controls), resolve
        self.end, self.error = "", ""
        self.errors: list[str] = []
        self.tick_seconds: list[float] = []  # wall time of each tick after the warm-up ticks
        self.ticks_done = 0
        self._rss_start: float | None = None
        self._closed = False
        self.closers: list[Callable[[], None]] = []  # run last when the session ends (a live view's server)

    @property
    def op(self) -> OperatingPoint:
        """The operating point every stream runs."""
        return self.streams[0].pipeline.op

    def switch(self, op: OperatingPoint) -> None:
        """Every stream to ``op`` from its next frame (a keyframe). The engines ``op`` needs are opened before any
        stream switches, so a failure leaves every stream on the current point; then the ones no stream runs any
        more are closed."""
        bundle = self.streams[0].pipeline.bundle
        check_graphs(bundle, op)
        needed = graphs_to_open(bundle, op)
        if self.engines is not None:
            self.engines.acquire(needed)  # raises before any stream moved
        before = self.op
        moved = []
        try:
            for s in self.streams:
                s.pipeline.switch(op)
                moved.append(s)
        except BaseException:  # a stream's own pre/post engines failed: the moved ones go back
            for s in moved:
                s.pipeline.switch(before)
            raise
        if self.engines is not None and self.owns_pipelines:
            self.engines.keep_only(needed)

    def _apply_controls(self) -> None:
        for control in self.controls:
            name = control.take_request()
            if not name:
                continue
            try:
                self.switch(self.resolve(name))  # type: ignore[misc]  # set with controls
            except EdgesegError as exc:  # an engine that cannot be built: one line, the run goes on as it was
                print(f"edgeseg: cannot switch to {name}: {exc}", file=sys.stderr)

    # --- the frame loop -------------------------------------------------------------------------------
    def ticks(self) -> Iterator[Tick]:
        """Process one frame per stream per tick and yield what was done; the session ends (and closes what it
        holds) when this generator is exhausted or closed."""
        self._begin()
        streams, warmup = self.streams, self.warmup or 0
        end = "end_of_stream"
        try:
            while any(not s.end for s in streams):
                if self.stop.is_set():
                    end = "stopped"
                    break
                if self.max_frames is not None and self.ticks_done >= self.max_frames:
                    end = "max_frames"
                    break
                self._apply_controls()
                t0 = time.perf_counter()
                frames = {id(s): f for s in streams if not s.end for f in [self._next(s)] if f is not None}
                active = [s for s in streams if id(s) in frames]
                if not active:
                    if self.mode == "live" and len(streams) > 1:
                        time.sleep(0.002)  # no camera has a new frame yet
                    continue
                tick = Tick(self.ticks_done, self._process(active, frames))
                if self.mosaic_sink is not None and not self._write_mosaic(active):
                    end = "sink_failed"
                    break
                self.ticks_done += 1
                if self.ticks_done > warmup:
                    self.tick_seconds.append(time.perf_counter() - t0)
                for observer in self.observers:
                    observer.on_tick(self, tick)
                yield tick
        except GeneratorExit:
            end = "stopped"
            raise
        finally:
            self._finish(end)

    def run(self) -> SessionResult:
        """Run to the end; the result holds the statistics (totals and per stream)."""
        for _ in self.ticks():
            pass
        return self.result()

    def _begin(self) -> None:
        self._rss_start = rss_mb()
        for s in self.streams:
            if self.warmup is not None:
                s.pipeline.stats.warmup = self.warmup
            if s.pipeline.stats.start is None:  # a Segmenter's statistics carry on from earlier frames
                s.pipeline.stats.begin()
            if self.mode == "live":
                s.reader = LatestFrame(s.source, s.pipeline.stats, self.reconnect_s, self.stop)

    def _next(self, s: Stream) -> tuple[Read, float] | None:
        """The stream's frame for this tick (sync: the next one; live: the newest), or None when it has none."""
        if s.reader is not None:
            item = s.reader.take(wait=0.1 if len(self.streams) == 1 else 0)  # never wait on one camera for the others
            if item is None:
                return None
            if isinstance(item, Read):
                s.end, s.error = end_of(item)
                return None
            read, arrival, decode = item
            s.pipeline.stats.add_stage("decode", decode)
            return self._checked(s, read, arrival)
        t = time.perf_counter()
        r = read_reconnecting(s.source, self.reconnect_s, self.stop, s.pipeline.stats)
        if r.status is not Status.FRAME:
            s.end, s.error = end_of(r)
            return None
        arrival = time.perf_counter()  # latency counts from the frame's arrival; the wait for it is decode time
        s.pipeline.stats.read += 1
        s.pipeline.stats.add_stage("decode", arrival - t)
        return self._checked(s, r, arrival)

    @staticmethod
    def _checked(s: Stream, read: Read, arrival: float) -> tuple[Read, float] | None:
        """The frame, unless its size is one the pipeline cannot take: the stream then ends with the reason."""
        why = s.check_size(rgb_of(read))
        if why:
            s.end, s.error = "source_error", why
            return None
        return read, arrival

    def _process(self, active: list[Stream], frames: dict[int, tuple[Read, float]]) -> list[Delivered]:
        streams = self.streams
        op = self.op
        period = op.adaptive.max_interval if op.adaptive else op.keyframe_interval
        deferred = self._deferred(active, frames, key_budget(len(streams), period) if self.stagger else len(streams))
        done = []
        for s in active:
            read, arrival = frames[id(s)]
            t = time.perf_counter()
            out = s.pipeline.process(rgb_of(read), arrival, defer_key=id(s) in deferred)
            seconds = time.perf_counter() - t
            s.waited = s.waited + 1 if id(s) in deferred else 0
            if self.stagger and out.keyframe and out.index == 0 and len(streams) > 1:
                s.pipeline.shift_phase((streams.index(s) * period) // len(streams))  # stream i keys (i*S)//N early
            self._write(s, read, out)
            done.append(Delivered(s, read, out, seconds))
        return done

    @staticmethod
    def _deferred(active: list[Stream], frames: dict[int, tuple[Read, float]], budget: int) -> set[int]:
        """Streams whose due keyframe waits this tick: beyond the budget, those that waited least (fusion points,
        first frames and size changes always key)."""
        due = [s for s in active if s.pipeline.is_keyframe(rgb_of(frames[id(s)][0]))]
        movable = sorted((s for s in due if s.pipeline.can_defer(rgb_of(frames[id(s)][0]))), key=lambda s: -s.waited)
        keep = max(0, budget - (len(due) - len(movable)))
        return {id(s) for s in movable[keep:]}

    def _write(self, s: Stream, read: Read, out: FrameOutput) -> None:
        s.last = (rgb_of(read), out.labels)
        if s.sink is None:
            return
        t = time.perf_counter()
        try:
            if s.sink.captioned:  # an overlay says what it shows
                caption = f"{self.op.name} ({self.op.label()})  frame {out.index}  {'keyframe' if out.keyframe else 'propagated'}"
                s.sink.write(rgb_of(read), out.labels, out.index, read.name, caption=caption)  # type: ignore[call-arg]
            else:
                s.sink.write(rgb_of(read), out.labels, out.index, read.name)
        except SinkError as exc:  # this stream's output failed: it ends, the others go on
            s.end, s.error = "sink_failed", str(exc)
            self.errors.append(f"{s.name}: {exc}" if len(self.streams) > 1 else str(exc))
        s.pipeline.stats.add_render(time.perf_counter() - t)

    def _write_mosaic(self, active: list[Stream]) -> bool:
        t = time.perf_counter()
        try:
            self.mosaic_sink.write(*mosaic([s.last for s in self.streams], [s.name for s in self.streams]), self.ticks_done)  # type: ignore[union-attr]
        except SinkError as exc:
            self.errors.append(str(exc))
            return False
        share = (time.perf_counter() - t) / len(active)  # one picture for all: each stream's render is its share
        for s in active:
            s.pipeline.stats.add_render(share)
        return True

    def _finish(self, end: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop.set()
        for s in self.streams:
            s.end = s.end or end
            if s.reader is not None:
                s.reader.close()
            self._close_stream(s)
        if self.mosaic_sink is not None:
            try:
                self.mosaic_sink.close()
            except SinkError as exc:
                end = "sink_failed"
                self.errors.append(str(exc))
        if end == "end_of_stream":  # every stream ended: by one reason when they agree (one stream: its own)
            reasons = {s.end for s in self.streams}
            end = reasons.pop() if len(reasons) == 1 else end
        self.end = end
        self.error = "; ".join(s.error for s in self.streams if s.error) if len(self.streams) == 1 else \
            "; ".join(self.errors)
        if self.owns_pipelines:
            for s in self.streams:
                s.pipeline.close()
            if self.engines is not None:
                self.engines.close()
        for close in self.closers:
            close()

    def _close_stream(self, s: Stream) -> None:
        try:
            if s.sink is not None:
                s.sink.close()
        except SinkError as exc:
            if s.end != "sink_failed":  # a write that failed already said why; its close error would hide it
                s.end, s.error = "sink_failed", str(exc)
                self.errors.append(f"{s.name}: {exc}" if len(self.streams) > 1 else str(exc))
        finally:
            s.source.close()

    def snapshot(self) -> dict[str, Any]:
        """The figures so far (the live view's /stats.json): totals and one entry per stream."""
        return {**summarize([s.pipeline.stats for s in self.streams]), "streams": [s.summary() for s in self.streams]}

    def result(self) -> SessionResult:
        ms = np.asarray(self.tick_seconds) * 1000
        stats = {**summarize([s.pipeline.stats for s in self.streams]), "mode": self.mode, "end": self.end,
                 "error": self.error or None, "ticks": self.ticks_done,
                 "tick_ms": {"p50": round(float(np.percentile(ms, 50)), 3) if ms.size else None,
                             "p99": round(float(np.percentile(ms, 99)), 3) if ms.size else None},
                 "rss_mb": {"start": self._rss_start, "end": rss_mb()},
                 "streams": [s.summary() for s in self.streams]}
        return SessionResult(self.end, self.error, stats, self.errors)

    def close(self) -> None:
        """End the session now (what ``ticks()`` does at its end); safe to call twice."""
        self._finish("stopped")


def stream_names(uris: list[str]) -> list[str]:
    """Names that tell streams apart in the stats even when the same URI is given twice; credentials masked (they
    are shown in the stats, the status line, /metrics and the live page)."""
    return [redact_uri(uri if uris.count(uri) == 1 else f"{uri}#{i}") for i, uri in enumerate(uris)]
