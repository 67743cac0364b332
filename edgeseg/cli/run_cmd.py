"""``edgeseg run --bundle DIR``: the runtime on a source, a status line while running, a summary at the end."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from edgeseg._fs import atomic_write_text
from edgeseg._json import dumps
from edgeseg._uri import redact_uri
from edgeseg.cli.common import check_outputs, non_negative_int, positive_int, signal_exit_code
from edgeseg.errors import UsageError
from edgeseg.runtime.engines.registry import BACKENDS
from edgeseg.runtime.io.video_options import VideoOptions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder made by `edgeseg export`")
    p.add_argument("--profile", default="evs07", help="built-in operating point (edgeseg profiles) or a YAML file (default: %(default)s)")
    p.add_argument("--source", action="append", metavar="URI",
                   help="0 | /dev/video0 | csi://0 | rtsp://... | gst://... | video file | image folder | sample://bikes "
                        "(default: sample://bikes). Repeat it for several cameras: they share one engine, frames are "
                        "taken round-robin and keyframes staggered")
    p.add_argument("--sink", action="append", metavar="URI",
                   help="display://0 | out.mp4 | label folder (labels/?colour=1: coloured) | rtsp://SERVER/path | udp://HOST:PORT | "
                        "rtp://HOST:PORT | http://HOST:PORT (live view; beyond loopback with a token) | null:// (default: null://). "
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
    p.add_argument("--reconnect", metavar="SECONDS", type=seconds_or_forever, default=60.0,
                   help="a live source that stops delivering is reopened with back-off for this long before the run ends "
                        "'source_lost' (exit code 1); 'inf' keeps trying forever, 0 gives up at once (default: %(default)g)")
    p.add_argument("--retries", metavar="N", type=non_negative_int, default=None, help=argparse.SUPPRESS)  # before --reconnect
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


def seconds_or_forever(text: str) -> float:
    """--reconnect: seconds >= 0, or inf / forever."""
    if text.lower() in ("inf", "forever"):
        return float("inf")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds >= 0, or inf to keep trying forever")
    return value


def reconnect_window(args: argparse.Namespace) -> float:
    """Seconds to keep reconnecting; the older --retries N still means what N back-offs (0.1 s doubling) took."""
    if args.retries is None:
        return float(args.reconnect)
    from edgeseg.runtime.pipeline.session import backoff_delay
    return sum(backoff_delay(k) for k in range(args.retries))


def stop_on_signals(stop: threading.Event, received: list[int] | None = None) -> dict:
    """SIGINT and SIGTERM set ``stop`` (the run ends after the current frame) and append the first signal's number to
    ``received`` (the exit code is 128 + it); a second signal interrupts at once (an output that blocks, e.g. a FIFO
    nobody reads, cannot hold the run forever). Returns the previous handlers."""
    def on_signal(signum: int, frame: object) -> None:
        if received is not None and not received:
            received.append(signum)
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
    return {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}


def write_stats(path: str | None, stats: dict[str, Any]) -> None:
    if not path:
        return
    from edgeseg.runtime.io.sinks import SinkError
    try:
        atomic_write_text(path, dumps(stats))
    except OSError as exc:
        raise SinkError(f"cannot write the stats to {path}: {exc.strerror or exc}") from None


def offered_points(bundle: Any) -> list[str]:
    """The built-in operating points this bundle has every graph for: what the live page offers."""
    from edgeseg.profiles.schema import builtin_names, load_profile
    from edgeseg.runtime.pipeline.core import runnable
    return [n for n in builtin_names() if runnable(bundle, load_profile(n))]


class StatusLine:
    """An observer printing the session's figures on one stderr line, twice a second, while it runs."""

    def __init__(self) -> None:
        self.last = 0.0
        self.shown = False

    def on_tick(self, session: Any, tick: Any) -> None:
        now = time.perf_counter()
        if now - self.last > 0.5:
            self.last, self.shown = now, True
            print(status_line(session.snapshot()), end="", file=sys.stderr, flush=True)


def status_line(stats: dict[str, Any]) -> str:
    """One line of a session snapshot (totals of every stream)."""
    fps_text = "warming up" if stats["fps"] is None else f"{stats['fps']:6.1f} FPS"
    lat = stats["latency_ms"]["p50"]
    lat_text = "   -  " if lat is None else f"{lat:6.1f}"  # nothing measured yet (warm-up)
    return (f"\rframe {stats['frames']:6d}  {fps_text}  latency {lat_text} ms  "
            f"keyframes {stats['keyframes']}  dropped {stats['dropped']}")


def run(args: argparse.Namespace) -> int:
    from edgeseg.bundle import load_bundle
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime.engines.registry import best_backend
    from edgeseg.runtime.pipeline.launch import open_session

    check_outputs(args.stats)  # a --stats in a missing folder is said now, not after the run
    bundle = load_bundle(args.bundle)
    op = load_profile(args.profile)
    if min(args.width, args.height, args.rate, args.latency) < 0:
        raise UsageError("--width, --height, --rate and --latency must be >= 0")
    options = VideoOptions(width=args.width, height=args.height, rate=args.rate, latency=args.latency, codec=args.codec)
    sources, sinks = args.source or [DEFAULT_SOURCE], args.sink or ["null://"]
    backend = args.backend or best_backend()
    stop = threading.Event()
    status = StatusLine() if not args.quiet and sys.stderr.isatty() else None
    session, view = open_session(bundle, op, sources, sinks, options=options, mode=args.mode, backend=backend,
                                 flow_threads=args.flow_threads, engine_cache=args.engine_cache,
                                 legend=not args.no_legend, stagger=not args.no_stagger, max_frames=args.max_frames,
                                 reconnect_s=reconnect_window(args), warmup=args.warmup, stop=stop,
                                 observers=[status] if status else [], resolve=load_profile)
    received: list[int] = []
    previous = stop_on_signals(stop, received)  # from here the session is closed whatever happens
    try:
        if view is not None:  # the page offers the built-in points this bundle has every graph for
            view.attach(session, offered_points(bundle))
            if not view.announced:  # a generated token's line already named the URL to open
                print(f"edgeseg: live view on {view.url}", file=sys.stderr)
        result = session.run()
    finally:
        session.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if status is not None and status.shown:
        print(file=sys.stderr)
    op = session.op  # the live page may have switched it
    sources, sinks = [redact_uri(u) for u in sources], [redact_uri(u) for u in sinks]  # shown and saved: no passwords
    stats = {"profile": op.name, "operating_point": op.label(), "sources": sources, "sinks": sinks, "backend": backend,
             "stagger": not args.no_stagger, **result.stats, "errors": result.errors or None}
    if len(sources) == 1:  # the single-source fields of earlier releases
        stats = {"source": sources[0], "sink": sinks[0], **stats}
    try:
        write_stats(args.stats, stats)  # first: a closed stdout (run | head) must not lose them
    finally:  # the summary is printed even when the stats cannot be written (a full disk): then the error
        print_summary(op, sources, stats, args.no_stagger)
    for err in result.errors:
        print(f"edgeseg run: error: {err}", file=sys.stderr)
    if received:  # stopped on request: outputs finalised, stats written, and the exit code says which signal
        print(f"edgeseg run: stopped by {signal.Signals(received[0]).name}; outputs finalised"
              + (f", stats in {args.stats}" if args.stats else ""), file=sys.stderr)
        return signal_exit_code(received[0])
    return 1 if result.failed else 0


def print_summary(op: Any, sources: list[str], stats: dict[str, Any], aligned: bool) -> None:
    """The run in a few lines: speed and ending in all, stage ms per frame, and one line per stream (several)."""
    lat, tick = stats["latency_ms"], stats["tick_ms"]
    if stats["fps"] is None:
        speed = f"FPS not measured ({stats['fps_note']})"
    elif len(sources) == 1:
        speed = f"{stats['fps']:.1f} FPS, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms"
    else:
        speed = f"{stats['fps']:.1f} FPS in all, tick p50 {tick['p50']:.1f} ms p99 {tick['p99']:.1f} ms"
    if stats["fps"] is not None and stats["fps_note"]:
        speed += f" ({stats['fps_note']})"
    where = sources[0] if len(sources) == 1 else \
        f"{len(sources)} sources, {'aligned' if aligned else 'staggered'} keyframes"
    print(f"{op.name} ({op.label()}) on {where}: {stats['frames']} frames, {stats['keyframes']} of them keyframes after the warm-up, "
          f"{speed}, dropped {stats['dropped']}, ended: {stats['end']}" +
          (f" ({stats['error']})" if stats["error"] and len(sources) == 1 else ""))
    print("stage ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in stats["stage_ms"].items()))
    if len(sources) > 1:
        for s in stats["streams"]:
            fps = f"{s['fps']:.1f} FPS" if s["fps"] is not None else "FPS not measured"
            print(f"  {s['source']}: {s['frames']} frames, {fps}, {s['keyframes']} keyframes, dropped {s['dropped']}, "
                  f"ended: {s['end']}" + (f" ({s['error']})" if s["error"] else ""))
