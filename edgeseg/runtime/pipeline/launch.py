"""``open_session``: a Session from source and sink URIs, as ``edgeseg run`` gives them (one camera or several).

Sources are opened first, then sinks, then one EngineSet and a pipeline per source on it; if anything fails,
whatever was opened is closed again (a video sink removes its temporary file) and the error raised. An
``http://`` sink is not a sink: it becomes the live view (``LiveViewServer``), attached to the session as an
observer and a control; with several sources and one output, that output gets a mosaic of all streams.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np

from edgeseg.bundle import Bundle
from edgeseg.errors import UsageError
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.engines.thread_budget import thread_budget
from edgeseg.runtime.io.sinks import Sink, open_sink
from edgeseg.runtime.io.sources import open_source
from edgeseg.runtime.io.video_options import VideoOptions
from edgeseg.runtime.operating_point import OperatingPoint
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.session import Observer, Session, Stream, stream_names


def is_live_view(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def open_session(bundle: Bundle, op: OperatingPoint, sources: Sequence[str], sinks: Sequence[str] = ("null://",), *,
                 options: VideoOptions | None = None, mode: str | None = None, backend: str = "onnxrt",
                 flow_threads: int | None = None, engine_cache: str | None = None, legend: bool = True,
                 stagger: bool = True, max_frames: int | None = None, reconnect_s: float = 60.0, warmup: int = 3,
                 stop: threading.Event | None = None, observers: Sequence[Observer] = (),
                 resolve: Callable[[str], OperatingPoint] | None = None) -> tuple[Session, Any]:
    """(session, live view or None). ``mode`` None: live when any source is live (a camera, a stream), else sync.
    ``sinks``: one per source, or one for all (several sources: a mosaic)."""
    sources, sinks = list(sources), list(sinks) or ["null://"]
    if len(sinks) not in (1, len(sources)):
        raise UsageError(f"{len(sinks)} --sink for {len(sources)} --source: give one sink per source, or one sink "
                         "(a mosaic of all streams)")
    palette = np.asarray(bundle.manifest.classes.palette, np.uint8)
    names = bundle.manifest.classes.names if legend else None
    with ExitStack() as undo:  # whatever was opened is closed again if a later one fails
        opened = []
        for uri in sources:
            opened.append(open_source(uri, options))
            undo.callback(opened[-1].close)
        mode = mode or ("live" if any(src.live for src in opened) else "sync")
        mosaic_for = len(sources) > 1 and len(sinks) == 1
        view, mosaic = None, None
        outs: list[Sink | None] = []
        for k, (uri, src) in enumerate(zip(sinks, opened)):
            if is_live_view(uri):
                if view is not None:
                    raise UsageError("one http:// live view per run (it shows one stream or the mosaic of all)")
                from edgeseg.runtime.io.http_view import LiveViewServer
                view = LiveViewServer(uri, palette, names, stream=None if mosaic_for else k)
                undo.callback(view.close)
                outs.append(None)
                continue
            sink: Sink = open_sink(uri, palette, fps=src.fps, options=options, names=names)
            undo.callback(sink.close)
            outs.append(sink)
        if mosaic_for:  # one output for several sources: the mosaic (None when it is the live view)
            mosaic, outs = outs[0], [None] * len(sources)
        budget = thread_budget(live=mode == "live")
        engines = EngineSet(bundle, backend, budget.engine, engine_cache, budget.engine_spinning)
        undo.callback(engines.close)
        pipes = []
        # live mode with one source segments keyframes in the background while later frames are propagated; with
        # several, their pipelines share each engine, which TensorRT and torch cannot run from two threads at once
        overlap = mode == "live" and len(sources) == 1
        for _ in sources:
            pipes.append(Pipeline(bundle, op, backend=backend, flow_threads=flow_threads, overlap=overlap,
                                  engines=engines, threads=budget))
            undo.callback(pipes[-1].close)
        undo.pop_all()
    streams = [Stream(name, src, pipe, out) for name, src, pipe, out in zip(stream_names(sources), opened, pipes, outs)]
    extra = [view] if view is not None else []
    session = Session(streams, mode=mode, mosaic=mosaic, stagger=stagger, max_frames=max_frames, reconnect_s=reconnect_s,
                      warmup=warmup, stop=stop, engines=engines, observers=[*observers, *extra], controls=extra if resolve else [],
                      resolve=resolve)
    if view is not None:  # closed with the session, after its last frame
        session.closers.append(view.close)
    return session, view
