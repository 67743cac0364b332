"""A live view in the browser: ``--sink http://127.0.0.1:8090``.

    /              a page: the overlay stream, the class-colour legend, live FPS, per-stage ms, drops, and a
                   selector that switches the operating point while the run goes on
    /stream.mjpg   the overlay as an MJPEG stream (multipart/x-mixed-replace)
    /stats.json    the run's statistics (the --stats fields; several streams: one entry each)
    /metrics       the same in Prometheus' text format (prometheus-client)
    POST /profile  {"name": "evs14"}: the run switches between two frames

Served by a thread of its own; frames are JPEG-encoded only while someone watches the stream. A client that
goes away mid-stream is forgotten; the run goes on. Binds to 127.0.0.1 unless the URI names another host.
"""

from __future__ import annotations

import html
import json
import socket
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import cv2
import numpy as np

from edgeseg._json import dumps
from edgeseg.errors import UsageError
from edgeseg.runtime.io.sinks import SinkError, render

BOUNDARY = "edgeseg-frame"


class LiveViewServer:
    """The live view: serves the page, the overlay stream, /stats.json and /metrics, and takes operating-point
    requests. Attached to a Session as an observer (it publishes the newest frame: one stream's, or the mosaic of
    all) and a control (the session applies a request between ticks); it is not one of the session's sinks."""

    def __init__(self, uri: str, palette: np.ndarray, names: Sequence[str] | None, stream: int | None = None):
        parts = urlsplit(uri)
        host, port = parts.hostname or "127.0.0.1", parts.port or 8090
        self.palette, self.names = palette, list(names or [])
        self.stream = stream  # which stream it shows (None: a mosaic of all)
        self.stats: Callable[[], dict[str, Any]] = dict
        self.profiles: Sequence[str] = ()
        self.current: Callable[[], str] = str
        self._requested: str | None = None
        self._jpeg: bytes | None = None
        self._seq = 0
        self._cond = threading.Condition()
        self._watchers = 0
        self._closed = False
        try:
            self.server = ThreadingHTTPServer((host, port), _handler(self))
        except OSError as exc:
            raise SinkError(f"cannot serve the live view on {host}:{port}: {exc.strerror or exc} "
                            "(port in use? pick another with http://HOST:PORT)") from None
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="edgeseg-http", daemon=True)
        self._thread.start()

    def attach(self, session: Any, profiles: Sequence[str]) -> None:
        """Show ``session``'s figures and operating point; offer ``profiles`` on the page."""
        self.stats, self.current, self.profiles = session.snapshot, lambda: session.op.name, list(profiles)

    # --- control ------------------------------------------------------------------------------------
    def request_profile(self, name: str) -> None:
        if self.profiles and name not in self.profiles:
            raise UsageError(f"unknown operating point {name!r}")
        with self._cond:
            self._requested = name

    def take_request(self) -> str | None:
        """The operating point asked for since the last call (the session applies it between ticks), or None."""
        with self._cond:
            name, self._requested = self._requested, None
            return name

    # --- observer -----------------------------------------------------------------------------------
    def on_tick(self, session: Any, tick: Any) -> None:
        if not self._watchers:  # nobody is looking: no encoding
            return
        streams = session.streams
        if self.stream is not None:
            shown = streams[self.stream].last
        elif len(streams) == 1:
            shown = streams[0].last
        else:
            from edgeseg.runtime.io.mosaic import mosaic
            shown = mosaic([s.last for s in streams])
        if shown is not None:
            self.publish(*shown)

    def publish(self, rgb: np.ndarray, labels: np.ndarray) -> None:
        """Encode the overlay of ``labels`` on ``rgb`` as the stream's newest frame."""
        frame = render(rgb, labels, self.palette, None)  # the page shows the legend beside the stream
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            with self._cond:
                self._jpeg, self._seq = jpeg.tobytes(), self._seq + 1
                self._cond.notify_all()

    def next_frame(self, seen: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The first frame newer than ``seen`` (waits up to ``timeout``); (seq, None) once the view is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seen or self._closed, timeout)
            return self._seq, None if self._closed else self._jpeg

    @property
    def closed(self) -> bool:
        return self._closed

    def watching(self, delta: int) -> None:
        with self._cond:
            self._watchers += delta

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def _handler(view: LiveViewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # no access log on the run's stderr
            pass

        def _send(self, body: bytes, ctype: str, code: int = 200) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urlsplit(self.path).path
            try:
                if path == "/":
                    self._send(page(view).encode(), "text/html; charset=utf-8")
                elif path == "/stats.json":
                    self._send(dumps({"profile": view.current(), **view.stats()}).encode(), "application/json")
                elif path == "/metrics":
                    from prometheus_client.exposition import CONTENT_TYPE_LATEST
                    self._send(metrics(view.stats()), CONTENT_TYPE_LATEST)
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(b"not found\n", "text/plain", 404)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass  # the client went away: the run goes on

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/profile":
                self._send(b"not found\n", "text/plain", 404)
                return
            try:
                # JSON only: a form or text/plain post from another page (no CORS preflight) is refused
                if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                    raise ValueError("send the operating point as application/json: {\"name\": ...}")
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= 4096:
                    raise ValueError("a JSON body of at most 4 KiB is expected")
                body = json.loads(self.rfile.read(length))
                view.request_profile(str(body.get("name")))
            except (ValueError, UsageError, AttributeError) as exc:
                self._send(f"{exc}\n".encode(), "text/plain", 400)
                return
            self._send(b'{"ok": true}', "application/json")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            view.watching(+1)
            try:
                seen = -1
                while True:
                    seen, jpeg = view.next_frame(seen)
                    if jpeg is None:
                        if view.closed:
                            return
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                     .encode() + jpeg + b"\r\n")
            finally:
                view.watching(-1)

    return Handler


def metrics(stats: dict[str, Any]) -> bytes:
    """The run's statistics in Prometheus' text format (several streams: labelled by source)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    runs = stats.get("streams") or [{"source": stats.get("source", "0"), **stats}]

    class Collector:
        def collect(self) -> Any:
            families = {
                "frames": CounterMetricFamily("edgeseg_frames", "Frames processed", labels=["source"]),
                "dropped": CounterMetricFamily("edgeseg_dropped_frames", "Frames dropped (live: a newer one came)",
                                               labels=["source"]),
                "keyframes": CounterMetricFamily("edgeseg_keyframes", "Keyframes segmented (warm-up excluded)",
                                                 labels=["source"]),
                "fps": GaugeMetricFamily("edgeseg_fps", "Frames per second (warm-up excluded)", labels=["source"]),
            }
            stage = GaugeMetricFamily("edgeseg_stage_milliseconds", "Mean milliseconds per frame by stage",
                                      labels=["source", "stage"])
            for run in runs:
                src = str(run.get("source"))
                for key, family in families.items():
                    if run.get(key) is not None:
                        family.add_metric([src], float(run[key]))
                for name, ms in (run.get("stage_ms") or stats.get("stage_ms") or {}).items():
                    stage.add_metric([src, name], float(ms))
            yield from families.values()
            yield stage

    registry = CollectorRegistry()
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry)


def page(view: LiveViewServer) -> str:
    """The live page: stream, legend, figures refreshed every second, operating-point selector."""
    legend = "".join(f'<li><span style="background:rgb({r},{g},{b})"></span>{html.escape(n)}</li>'
                     for n, (r, g, b) in zip(view.names, view.palette.tolist()))
    options = "".join(f'<option value="{html.escape(p)}"{" selected" if p == view.current() else ""}>'
                      f"{html.escape(p)}</option>" for p in view.profiles)
    return PAGE.replace("{legend}", legend).replace("{options}", options)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>edgeseg live</title>
<style>
body { font: 14px sans-serif; margin: 1em; background: #111; color: #eee; }
#view { display: flex; gap: 1.5em; align-items: flex-start; }
img { max-width: 70vw; background: #000; }
ul { list-style: none; padding: 0; margin: 0; }
li span { display: inline-block; width: 1em; height: 1em; margin-right: .5em; vertical-align: middle; }
td { padding: 0 .6em 0 0; }
</style></head>
<body>
<h1>edgeseg live</h1>
<div id="view">
  <img id="stream" src="/stream.mjpg" alt="overlay stream">
  <div>
    <label>operating point <select id="profile">{options}</select></label>
    <table id="figures"><tr><td>profile</td><td id="current">-</td></tr>
      <tr><td>FPS</td><td id="fps">-</td></tr><tr><td>frames</td><td id="frames">-</td></tr>
      <tr><td>dropped</td><td id="dropped">-</td></tr></table>
    <table id="stages"></table>
    <h2>classes</h2><ul id="legend">{legend}</ul>
  </div>
</div>
<script>
async function refresh() {
  const s = await (await fetch('/stats.json')).json();
  const streams = s.streams || [s];
  const sum = k => streams.reduce((a, x) => a + (x[k] || 0), 0);
  document.getElementById('current').textContent = s.profile;
  document.getElementById('fps').textContent = s.fps == null ? 'warming up' : s.fps.toFixed(1);
  document.getElementById('frames').textContent = sum('frames');
  document.getElementById('dropped').textContent = sum('dropped');
  const stages = s.stage_ms || (streams[0] && streams[0].stage_ms) || {};
  document.getElementById('stages').innerHTML = Object.entries(stages)
    .map(([k, v]) => `<tr><td>${k} ms</td><td>${v.toFixed(2)}</td></tr>`).join('');
}
document.getElementById('profile').addEventListener('change', e =>
  fetch('/profile', {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({name: e.target.value})}));
setInterval(refresh, 1000); refresh();
</script>
</body></html>
"""
