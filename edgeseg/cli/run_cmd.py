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
    p.add_argument("--source", default="sample://bikes",
                   help="0 | /dev/video0 | csi://0 | rtsp://... | gst://... | video file | image folder | sample://bikes "
                        "(default: %(default)s)")
    p.add_argument("--sink", default="null://", help="display://0 | out.mp4 | label folder | null:// (default: %(default)s)")
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
    p.add_argument("--stats", help="write run statistics as JSON to this file")
    p.add_argument("--warmup", type=non_negative_int, default=3, help="frames excluded from FPS and latency (default: %(default)s)")
    p.add_argument("--retries", type=non_negative_int, default=5, help="reconnection attempts for a live source (default: %(default)s)")
    p.add_argument("--flow-threads", type=positive_int, default=2, help="CPU threads computing optical flow (default: %(default)s)")
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
    from edgeseg.runtime.sinks import SinkError, open_sink
    from edgeseg.runtime.sources import open_source

    bundle = load_bundle(args.bundle)
    op = load_profile(args.profile)
    if min(args.width, args.height, args.rate, args.latency) < 0:
        raise UsageError("--width, --height, --rate and --latency must be >= 0")
    options = VideoOptions(width=args.width, height=args.height, rate=args.rate, latency=args.latency, codec=args.codec)
    source = open_source(args.source, options)
    mode = args.mode or ("live" if source.live else "sync")
    palette = np.asarray(bundle.manifest.classes.palette, np.uint8)
    try:
        sink = open_sink(args.sink, palette, fps=source.fps, options=options,
                         names=None if args.no_legend else bundle.manifest.classes.names)
    except BaseException:
        source.close()
        raise
    backend = args.backend or best_backend()
    try:  # live mode segments keyframes in the background while later frames are propagated
        pipeline = Pipeline(bundle, op, backend=backend, flow_threads=args.flow_threads, overlap=mode == "live",
                            engine_cache=args.engine_cache)
    except BaseException:
        sink.close()  # nothing written yet: a video sink removes its temporary file
        source.close()
        raise
    pipeline.stats.warmup = args.warmup
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    last = [0.0]

    def on_frame(out: Any, stats: Any) -> None:
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
    stats = {"profile": op.name, "operating_point": op.label(), "source": args.source, "sink": args.sink,
             "backend": backend, **result.stats}
    if not args.quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    lat = stats["latency_ms"]
    speed = (f"{stats['fps']:.1f} FPS, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms" if stats["fps"] is not None
             else f"FPS not measured ({stats['fps_note']})")
    print(f"{op.name} ({op.label()}) on {args.source}: {stats['frames']} frames ({stats['keyframes']} keyframes counted), "
          f"{speed}, dropped {stats['dropped']}, ended: {result.end}" + (f" ({result.error})" if result.error else ""))
    print("stage ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in stats["stage_ms"].items()))
    if args.stats:
        try:
            atomic_write_text(args.stats, dumps(stats))
        except OSError as exc:
            raise SinkError(f"cannot write the stats to {args.stats}: {exc.strerror or exc}") from None
    if result.end == "sink_failed":
        print(f"edgeseg run: error: {result.error}", file=sys.stderr)
    return 1 if result.end in ("source_error", "sink_failed") else 0

