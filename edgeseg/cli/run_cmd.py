"""``edgeseg run --bundle DIR``: the runtime on a source, a status line while running, a summary at the end."""

from __future__ import annotations

import argparse
import itertools
import math
import signal
import sys
import threading
import time
from typing import Any

import numpy as np

from edgeseg._fs import atomic_write_text
from edgeseg._json import dumps
from edgeseg.cli.common import non_negative_int, positive_int
from edgeseg.errors import UsageError
from edgeseg.runtime.engine import BACKENDS
from edgeseg.runtime.video_options import VideoOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--profile", default="evs07", help="built-in operating point (edgeseg profiles) or a YAML file (default: %(default)s)")
    p.add_argument("--source", action="append", metavar="URI",
                   help="0 | /dev/video0 | csi://0 | rtsp://... | gst://... | video file | image folder | sample://bikes "
                        "(default: sample://bikes). Repeat it for several cameras: they share one engine, frames are "
                        "taken round-robin and keyframes staggered")
    p.add_argument("--sink", action="append", metavar="URI",
                   help="display://0 | out.mp4 | label folder | http://HOST:PORT (live view) | null:// (default: null://). "
                        "With several sources: one "
                        "--sink per source, or one sink that gets a mosaic of all streams")
    p.add_argument("--no-stagger", action="store_true",
                   help="several sources: key every stream on the same ticks instead of staggering their keyframes")
    p.add_argument("--mode", choices=["sync", "live"], default=None,
                   help="sync: every frame in order; live: newest frame wins, drops counted (default: live for cameras "
                        "and streams, sync for files and folders)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="inference backend: tensorrt (TensorRT engines, GPU), onnxrt (ONNX Runtime; its CUDA/TensorRT "
                        "providers when installed), torch (the source checkpoints in PyTorch, reference). Default: the "
                        "best available here (edgeseg doctor shows it)")
    p.add_argument("--engine-cache", metavar="DIR", default=None,
                   help="where engines built for this machine are kept: the TensorRT backend's (default: "
                        "<bundle>/engines) and, only when given, ONNX Runtime's TensorRT provider's")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                   help="stop after N frames (N >= 1; the first --warmup frames are not in FPS and latency)")
    p.add_argument("--stats", metavar="FILE", help="write run statistics as JSON to this file")
    p.add_argument("--warmup", metavar="N", type=non_negative_int, default=3, help="frames excluded from FPS and latency (default: %(default)s)")
    p.add_argument("--retries", metavar="N", type=non_negative_int, default=5, help="reconnection attempts for a live source (default: %(default)s)")
    p.add_argument("--flow-threads", metavar="N", type=positive_int, default=2, help="CPU threads computing optical flow (default: %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.add_argument("--no-legend", action="store_true", help="overlay videos and the display without the class-colour legend")
    video = p.add_argument_group("video settings (a URI's own ?width=&height=&rate=&latency=&codec= override these)")
    video.add_argument("--width", type=int, default=0, help="camera: frame width to ask for; video sink: width written (default: as is)")
    video.add_argument("--height", type=int, default=0, help="camera: frame height to ask for; video sink: height written")
    video.add_argument("--rate", type=float, default=0.0, help="camera: frame rate to ask for; video sink: rate written "
                       "(default: the source's, 15 when it has none)")
    video.add_argument("--latency", type=int, default=5000, metavar="MS",
                       help="network streams: ms to open or to deliver a frame before it counts as a timeout (default: %(default)s)")
    video.add_argument("--codec", default="", help="video sink FOURCC, e.g. mp4v, avc1, MJPG (default: by extension)")


DEFAULT_SOURCE = "sample://bikes"


def stop_on_signals(stop: threading.Event) -> dict:
    """SIGINT and SIGTERM set ``stop`` (the run ends after the current frame); returns the previous handlers."""
    return {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}


def write_stats(path: str | None, stats: dict[str, Any]) -> None:
    if not path:
        return
    from edgeseg.runtime.sinks import SinkError
    try:
        atomic_write_text(path, dumps(stats))
    except OSError as exc:
        raise SinkError(f"cannot write the stats to {path}: {exc.strerror or exc}") from None


def run_many(args: argparse.Namespace, bundle: Any, op: Any, options: VideoOptions, backend: str, sources: list[str],
             sinks: list[str]) -> int:
    """Several sources in one process: shared engines, round-robin ticks, staggered keyframes (runtime.multistream)."""
    from contextlib import ExitStack

    from edgeseg.runtime.multistream import Stream, run_streams, switch_all
    from edgeseg.runtime.pipeline import Pipeline
    from edgeseg.runtime.sinks import open_sink
    from edgeseg.runtime.sources import open_source

    palette = np.asarray(bundle.manifest.classes.palette, np.uint8)
    names = None if args.no_legend else bundle.manifest.classes.names
    with ExitStack() as undo:  # whatever was opened is closed again if a later one fails
        opened, outs, pipes = [], [], []
        for uri in sources:
            opened.append(open_source(uri, options))
            undo.callback(opened[-1].close)
        mode = args.mode or ("live" if any(src.live for src in opened) else "sync")
        for uri, src in zip(sinks, opened):
            outs.append(open_sink(uri, palette, fps=src.fps, options=options, names=names))
            undo.callback(outs[-1].close)
        for _ in sources:
            shared = pipes[0].engines if pipes else None
            pipes.append(Pipeline(bundle, op, backend=backend, flow_threads=args.flow_threads,
                                  engine_cache=args.engine_cache, engines=shared))
            undo.callback(pipes[-1].close)
        undo.pop_all()
    for pipe in pipes:
        pipe.stats.warmup = args.warmup
    mosaic = outs[0] if len(outs) == 1 else None
    per_stream = [None] * len(sources) if mosaic else outs
    # names tell streams apart in the stats even when the same URI is given twice
    stream_names = [uri if sources.count(uri) == 1 else f"{uri}#{i}" for i, uri in enumerate(sources)]
    streams = [Stream(name, src, pipe, out) for name, src, pipe, out in zip(stream_names, opened, pipes, per_stream)]
    stop = threading.Event()
    previous = stop_on_signals(stop)
    view = live_view(outs, bundle, lambda: {"streams": [s.summary() for s in streams]}, lambda: streams[0].pipeline.op.name)

    def on_tick(tick: int, outputs: dict) -> None:
        if view is not None and (name := view.take_request()):
            switch_safely(name, lambda op: switch_all(streams, op))

    try:
        result = run_streams(streams, mosaic, mode=mode, stagger=not args.no_stagger, max_frames=args.max_frames,
                             retries=args.retries, stop=stop, warmup_ticks=args.warmup, on_tick=on_tick)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for pipe in reversed(pipes):  # the first owns the shared engines: closed last
            pipe.close()
    op = pipes[0].op  # the live page may have switched it
    stats = {"profile": op.name, "operating_point": op.label(), "sources": sources, "sinks": sinks, "backend": backend,
             "mode": mode, "stagger": not args.no_stagger, **result.to_json()}
    tick = result.tick_ms
    print(f"{op.name} ({op.label()}) on {len(sources)} sources, {'aligned' if args.no_stagger else 'staggered'} keyframes: "
          f"{result.ticks} ticks, " + (f"{result.fps:.1f} FPS in all, tick p50 {tick['p50']:.1f} ms p99 {tick['p99']:.1f} ms"
                                        if result.fps and tick["p50"] is not None else "too short to measure") +
          f", ended: {result.end}")
    for s in result.streams:
        fps = f"{s['fps']:.1f} FPS" if s["fps"] is not None else "FPS not measured"
        print(f"  {s['source']}: {s['frames']} frames, {fps}, {s['keyframes']} keyframes, dropped {s['dropped']}, "
              f"ended: {s['end']}" + (f" ({s['error']})" if s["error"] else ""))
    write_stats(args.stats, stats)
    for err in result.errors:
        print(f"edgeseg run: error: {err}", file=sys.stderr)
    failed = result.end == "sink_failed" or any(s["end"] in ("source_error", "sink_failed") for s in result.streams)
    return 1 if failed else 0


def live_view(sinks: list[Any], bundle: Any, stats: Any, current: Any) -> Any:
    """The live page of an http:// sink among ``sinks``, told where the run's figures are and which operating
    points it may offer (the built-ins this bundle has every graph for); None without one."""
    from edgeseg.profiles.schema import builtin_names, load_profile
    from edgeseg.runtime.http_view import HttpSink
    from edgeseg.runtime.pipeline import runnable
    sink = next((s for s in sinks if isinstance(s, HttpSink)), None)
    if sink is None:
        return None
    offered = [n for n in builtin_names() if runnable(bundle, load_profile(n))]
    sink.view.stats, sink.view.current, sink.view.profiles = stats, current, offered
    print(f"edgeseg: live view on {sink.url}", file=sys.stderr)
    return sink.view


def switch_safely(name: str, switch: Any) -> None:
    """Switch to the operating point ``name``; a failure (an engine that cannot be built) is one line and the run
    goes on under the current point."""
    from edgeseg.errors import EdgesegError
    from edgeseg.profiles.schema import load_profile
    try:
        switch(load_profile(name))
    except EdgesegError as exc:
        print(f"edgeseg run: cannot switch to {name}: {exc}", file=sys.stderr)


def status_line(stats: Any) -> str:
    fps = stats.fps
    recent = list(itertools.islice(reversed(stats.latencies), 50))
    lat = np.median(recent) * 1000 if recent else float("nan")
    fps_text = "warming up" if math.isnan(fps) else f"{fps:6.1f} FPS"
    return f"\rframe {stats.frames:6d}  {fps_text}  latency {lat:6.1f} ms  keyframes {stats.keyframes}  dropped {stats.dropped}"


def run(args: argparse.Namespace) -> int:
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime import runner
    from edgeseg.runtime.bundle import load_bundle
    from edgeseg.runtime.engine import best_backend
    from edgeseg.runtime.pipeline import Pipeline
    from edgeseg.runtime.sinks import open_sink
    from edgeseg.runtime.sources import open_source

    bundle = load_bundle(args.bundle)
    op = load_profile(args.profile)
    if min(args.width, args.height, args.rate, args.latency) < 0:
        raise UsageError("--width, --height, --rate and --latency must be >= 0")
    options = VideoOptions(width=args.width, height=args.height, rate=args.rate, latency=args.latency, codec=args.codec)
    sources, sinks = args.source or [DEFAULT_SOURCE], args.sink or ["null://"]
    if len(sinks) not in (1, len(sources)):
        raise UsageError(f"{len(sinks)} --sink for {len(sources)} --source: give one sink per source, or one sink "
                         "(a mosaic of all streams)")
    backend = args.backend or best_backend()
    if len(sources) > 1:
        return run_many(args, bundle, op, options, backend, sources, sinks)
    args.source, args.sink = sources[0], sinks[0]
    source = open_source(args.source, options)
    mode = args.mode or ("live" if source.live else "sync")
    palette = np.asarray(bundle.manifest.classes.palette, np.uint8)
    try:
        sink = open_sink(args.sink, palette, fps=source.fps, options=options,
                         names=None if args.no_legend else bundle.manifest.classes.names)
    except BaseException:
        source.close()
        raise
    try:  # live mode segments keyframes in the background while later frames are propagated
        pipeline = Pipeline(bundle, op, backend=backend, flow_threads=args.flow_threads, overlap=mode == "live",
                            engine_cache=args.engine_cache)
    except BaseException:
        sink.close()  # nothing written yet: a video sink removes its temporary file
        source.close()
        raise
    pipeline.stats.warmup = args.warmup
    stop = threading.Event()
    previous = stop_on_signals(stop)
    last = [0.0]
    view = live_view([sink], bundle, lambda: {"source": args.source, **pipeline.stats.to_json()}, lambda: pipeline.op.name)

    def on_frame(out: Any, stats: Any) -> None:
        if view is not None and (name := view.take_request()):
            switch_safely(name, lambda op: pipeline.switch(op))  # asked for on the live page
        now = time.perf_counter()
        if not args.quiet and sys.stderr.isatty() and now - last[0] > 0.5:
            last[0] = now
            print(status_line(stats), end="", file=sys.stderr, flush=True)

    try:
        result = runner.run(pipeline, source, sink, mode=mode, max_frames=args.max_frames, retries=args.retries, stop=stop,
                     on_frame=on_frame)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        pipeline.close()
    op = pipeline.op  # the live page may have switched it
    stats = {"profile": op.name, "operating_point": op.label(), "source": args.source, "sink": args.sink,
             "backend": backend, **result.stats}
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    lat = stats["latency_ms"]
    speed = (f"{stats['fps']:.1f} FPS, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms" if stats["fps"] is not None
             else f"FPS not measured ({stats['fps_note']})")
    if stats["fps"] is not None and stats["fps_note"]:
        speed += f" ({stats['fps_note']})"
    print(f"{op.name} ({op.label()}) on {args.source}: {stats['frames']} frames ({stats['keyframes']} keyframes counted), "
          f"{speed}, dropped {stats['dropped']}, ended: {result.end}" + (f" ({result.error})" if result.error else ""))
    print("stage ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in stats["stage_ms"].items()))
    write_stats(args.stats, stats)
    if result.end == "sink_failed":
        print(f"edgeseg run: error: {result.error}", file=sys.stderr)
    return 1 if result.end in ("source_error", "sink_failed") else 0

