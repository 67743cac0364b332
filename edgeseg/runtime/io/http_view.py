"""A live view in the browser: ``--sink http://127.0.0.1:8090``.

    /              a page: the overlay stream, the class-colour legend, live FPS, per-stage ms, drops, and a
                   selector that switches the operating point while the run goes on
    /stream.mjpg   the overlay as an MJPEG stream (multipart/x-mixed-replace)
    /stats.json    the run's statistics (the --stats fields; several streams: one entry each)
    /metrics       the same for Prometheus (seconds, ``_total`` counters, ``edgeseg_info``)
    POST /profile  {"name": "evs14"}: the run switches between two frames

Safe by default: it binds to 127.0.0.1 unless the URI names another host; bound beyond loopback it needs a token
(``?token=T``, ``$EDGESEG_VIEW_TOKEN``, else one is generated and the URL to open is printed once on stderr), and
every request is checked (``edgeseg.runtime.io.http_guard``: token, Host, Origin, sizes, time). ``?cert=FILE&key=FILE``
(or ``https://``) serves TLS. URIs it shows carry no credentials. Frames are rendered and JPEG-encoded on a thread of
the view's own, only while someone watches, at most ``?fps=`` (10) a second; the pipeline only hands the newest
frame over. A client that goes away mid-stream is forgotten; the run goes on.
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edgeseg import __version__
from edgeseg._json import dumps
from edgeseg._uri import redact_uri
from edgeseg.errors import UsageError
from edgeseg.runtime.io.http_guard import HEAD_BYTES, MAX_ACTIVE, Access, BoundedServer, GuardedHandler, is_loopback
from edgeseg.runtime.io.sink_base import SinkError, render

BOUNDARY = "edgeseg-frame"
TOKEN_ENV = "EDGESEG_VIEW_TOKEN"
MAX_BODY = 4096  # POST /profile: {"name": ...} is a few dozen bytes
MAX_DEPTH = 8  # JSON nesting a body may have (json.loads recurses: 3000 '[' would be a RecursionError)
MAX_STREAMS = MAX_ACTIVE - 8  # viewers; the rest of the slots stay free for the page, figures and switching
OPTIONS = ("token", "cert", "key", "fps", "hosts")
VIEW_FPS = 10  # frames a second the page gets by default: a smooth enough preview that 50 viewers cost the run little
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


class LiveViewServer:
    """The live view: serves the page, the overlay stream, /stats.json and /metrics, and takes operating-point
    requests. Attached to a Session as an observer (it hands the newest frame, one stream's or all for a mosaic, to
    its encoder thread) and a control (the session applies a request between ticks); it is not one of the
    session's sinks."""

    def __init__(self, uri: str, palette: np.ndarray, names: Sequence[str] | None, stream: int | None = None):
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - set(OPTIONS))
        if unknown:
            raise UsageError(f"live view {redact_uri(uri)}: unknown option {unknown[0]!r} (it takes {', '.join(OPTIONS)})")
        host, port = parts.hostname or "127.0.0.1", 8090 if parts.port is None else parts.port  # 0: any free port
        tls = _tls(parts.scheme, query.get("cert"), query.get("key"))
        token = query.get("token") or os.environ.get(TOKEN_ENV) or None
        generated = token is None and not is_loopback(host)
        if generated:  # reachable from the LAN: never without a token
            import secrets
            token = secrets.token_urlsafe(24)
        try:
            self.fps = float(query.get("fps", VIEW_FPS))
        except ValueError:
            self.fps = 0.0
        if not self.fps > 0:
            raise UsageError(f"live view: fps={query['fps']!r} is not a positive number of frames a second")
        self.palette, self.names = palette, list(names or [])
        self.stream = stream  # which stream it shows (None: a mosaic of all)
        self.stats: Callable[[], dict[str, Any]] = dict
        self.profiles: Sequence[str] = ()
        self.current: Callable[[], str] = str
        self.bundle = ""
        self.refused: Counter[str] = Counter()  # requests turned away, by reason (in /metrics)
        self._requested: str | None = None
        self._part: bytes | None = None  # the newest frame as a multipart part
        self._seq = 0
        self._cond = threading.Condition()  # guards the newest JPEG; its watchers wait on it
        self._work = threading.Condition()  # guards the newest frame handed over by the pipeline
        self._pending: list[tuple[np.ndarray, np.ndarray] | None] | None = None
        self._watchers = 0
        self._closed = False
        self._closing = threading.Event()
        try:
            self.server = BoundedServer((host, port), _handler(self), tls)
        except OSError as exc:
            raise SinkError(f"cannot serve the live view on {host}:{port}: {exc.strerror or exc} "
                            "(port in use? pick another with http://HOST:PORT)") from None
        port = self.server.server_address[1]
        extra = tuple(h for h in query.get("hosts", "").split(",") if h)
        self.access = Access(host, port, token, tls is not None, extra)
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host  # an address to open, not a wildcard
        self.url = f"{self.access.scheme}://{f'[{shown}]' if ':' in shown else shown}:{port}/"
        self.announced = generated  # the URL with its token was printed (run_cmd then prints no second line)
        if generated:  # shown once: whoever has this line may watch and switch
            print(f"edgeseg: live view reachable beyond this machine; open {self.url}?token={token}", file=sys.stderr)
        self._thread = threading.Thread(target=self.server.serve_forever, name="edgeseg-http", daemon=True)
        self._thread.start()
        self._encoder = threading.Thread(target=self._encode_loop, name="edgeseg-mjpeg", daemon=True)
        self._encoder.start()

    def attach(self, session: Any, profiles: Sequence[str]) -> None:
        """Show ``session``'s figures and operating point; offer ``profiles`` on the page."""
        self.stats, self.current, self.profiles = session.snapshot, lambda: session.op.name, list(profiles)
        bundle = getattr(session.streams[0].pipeline, "bundle", None) if session.streams else None
        self.bundle = bundle.root.name if bundle is not None else ""

    # --- control ------------------------------------------------------------------------------------
    def request_profile(self, name: str) -> None:
        """Ask for operating point ``name`` (UsageError when the page does not offer it; it offers none before
        ``attach``)."""
        if name not in self.profiles:
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
        """Hand the newest frame to the encoder (an older one not yet taken is dropped); nothing when nobody watches."""
        if not self._watchers:
            return
        streams = session.streams
        tiles = [streams[self.stream].last] if self.stream is not None else [s.last for s in streams]
        with self._work:
            self._pending = tiles
            self._work.notify()

    def _encode_loop(self) -> None:
        background()
        while True:
            with self._work:
                self._work.wait_for(lambda: self._pending is not None or self._closed)
                tiles, self._pending = self._pending, None
            if self._closed or tiles is None:
                return
            began = time.monotonic()
            if len(tiles) == 1:
                shown = tiles[0]
            else:
                from edgeseg.runtime.io.mosaic import mosaic
                shown = mosaic(tiles) if any(t is not None for t in tiles) else None
            if shown is not None:
                self.publish(*shown)
            self._closing.wait(max(0.0, began + 1 / self.fps - time.monotonic()))  # frames meanwhile: newest kept

    def publish(self, rgb: np.ndarray, labels: np.ndarray) -> None:
        """Encode the overlay of ``labels`` on ``rgb`` as the stream's newest frame (on the caller's thread)."""
        frame = render(rgb, labels, self.palette, None)  # the page shows the legend beside the stream
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:  # one multipart part, built once for every viewer
            part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.size}\r\n\r\n".encode() + jpeg.tobytes() + b"\r\n"
            with self._cond:
                self._part, self._seq = part, self._seq + 1
                self._cond.notify_all()

    def next_frame(self, seen: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The first frame newer than ``seen``, as a multipart part (waits up to ``timeout``); (seq, None) once the
        view is closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seen or self._closed, timeout)
            return self._seq, None if self._closed else self._part

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def watchers(self) -> int:
        return self._watchers

    def watching(self, delta: int) -> bool:
        """Count a viewer in (+1; False when there are already ``MAX_STREAMS``) or out (-1)."""
        with self._cond:
            if delta > 0 and self._watchers >= MAX_STREAMS:
                return False
            self._watchers += delta
            return True

    def refuse(self, reason: str) -> None:
        with self._cond:
            self.refused[reason] += 1

    def info(self) -> dict[str, str]:
        """The ``edgeseg_info`` labels: what runs."""
        return {"version": __version__, "bundle": self.bundle, "profile": self.current()}

    def close(self) -> None:
        with self._cond, self._work:
            self._closed = True
            self._cond.notify_all()
            self._work.notify_all()
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()


def background() -> None:
    """Lower the calling thread's priority (Linux: its own nice value): on a saturated CPU the pipeline comes first,
    the preview second."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def _tls(scheme: str, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server-side TLS context from ``?cert=&key=`` (None: plain HTTP); https:// without them is a usage error."""
    if scheme not in ("http", "https"):
        raise UsageError(f"a live view is http://HOST:PORT or https://HOST:PORT?cert=FILE&key=FILE, not {scheme}://")
    if not cert and not key:
        if scheme == "https":
            raise UsageError("an https:// live view needs its certificate and key: https://HOST:PORT?cert=FILE&key=FILE")
        return None
    if not (cert and key):
        raise UsageError("a TLS live view needs both ?cert=FILE and &key=FILE")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SinkError(f"cannot load the live view's certificate {cert} and key {key}: "
                        f"{getattr(exc, 'strerror', None) or exc}") from None
    return ctx


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest (strings skipped), without parsing it."""
    depth = deepest = 0
    for c in _STRINGS.sub(b'""', body):
        if c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}":
            depth -= 1
    return deepest


def _handler(view: LiveViewServer) -> type[GuardedHandler]:
    class Handler(GuardedHandler):
        cookie = False  # this request brought a good ?token=: the response sets the cookie

        def _send(self, body: bytes, ctype: str, code: int = 200, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for name, value in {"Content-Type": ctype, "Content-Length": str(len(body)), **_SECURE, **(headers or {})}.items():
                self.send_header(name, value)
            if self.cookie:
                self.send_header("Set-Cookie", view.access.set_cookie())
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str, reason: str = "", headers: dict[str, str] | None = None) -> None:
            if reason:
                view.refuse(reason)
            self._send(json.dumps({"error": message}).encode() + b"\n", "application/json", code, headers)

        def _admit(self) -> bool:
            """Host, then token: False (and the refusal sent) when this request may not proceed."""
            if not view.access.host_ok(self.headers.get("Host")):
                self._error(421, "this live view does not answer to that Host name (DNS rebinding?); open it by "
                                 "address or add the name with ?hosts=NAME", "host")
                return False
            token = parse_qs(urlsplit(self.path).query).get("token")
            ok, self.cookie = view.access.authorized(self.headers, token[-1] if token else None)
            if not ok:
                self._error(401, "a token is needed: open the URL with ?token= printed when the view started, or send "
                                 "Authorization: Bearer TOKEN", "token", {"WWW-Authenticate": "Bearer"})
            return ok

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if not self._admit():
                return
            path = urlsplit(self.path).path
            try:
                if path == "/":
                    self._send(page(view).encode(), "text/html; charset=utf-8")
                elif path == "/stats.json":
                    text = dumps({"profile": view.current(), **view.stats()})
                    self._send(redact_uri(text).encode(), "application/json")
                elif path == "/metrics":
                    from prometheus_client.exposition import CONTENT_TYPE_LATEST
                    self._send(metrics(view.stats(), view.info(), view.refused.copy(), view.watchers), CONTENT_TYPE_LATEST)
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._error(404, "not found")
            except (BrokenPipeError, ConnectionResetError, TimeoutError, ssl.SSLError):
                pass  # the client went away: the run goes on

        def do_POST(self) -> None:  # noqa: N802
            if not self._admit():
                return
            if not view.access.origin_ok(self.headers):
                self._error(403, "a request from another site's page is refused", "origin")
                return
            if urlsplit(self.path).path != "/profile":
                self._error(404, "not found")
                return
            # JSON only: a form or text/plain post from another page (no CORS preflight) is refused
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
                self._error(415, 'send the operating point as application/json: {"name": ...}', "body")
                return
            try:
                length = int(self.headers.get("Content-Length") or "")
            except ValueError:
                self._error(411, "a Content-Length is needed", "body")
                return
            if not 0 < length <= MAX_BODY:
                try:  # read what fits the request's budget, so that closing does not reset the connection first
                    self.rfile.read(min(max(length, 0), HEAD_BYTES))
                except (OSError, http.client.HTTPException):
                    pass
                self._error(413, f"a JSON body of at most {MAX_BODY} bytes is expected", "body")
                return
            body = self.rfile.read(length)
            try:
                if json_depth(body) > MAX_DEPTH:
                    raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
                doc = json.loads(body)
                if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
                    raise ValueError('expected {"name": "<operating point>"}')
                view.request_profile(doc["name"])
            except (ValueError, UsageError) as exc:
                self._error(400, str(exc), "body")
                return
            self._send(b'{"ok": true}\n', "application/json")

        def _stream(self) -> None:
            if not view.watching(+1):
                self._error(503, f"{MAX_STREAMS} viewers already watch this stream", "busy", {"Retry-After": "5"})
                return
            try:
                background()
                self.connection.settimeout(self.timeout)  # a viewer that stops reading is dropped after this
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                for name, value in _SECURE.items():
                    self.send_header(name, value)
                self.end_headers()
                seen = -1
                while True:
                    seen, part = view.next_frame(seen)
                    if part is None:
                        if view.closed:
                            return
                        continue
                    self.wfile.write(part)
            finally:
                view.watching(-1)

    return Handler


# every response: not cached, not sniffed, not framed by another page (the selector must not be clickjacked), no
# referrer (the page's URL may carry the token)
_SECURE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "no-referrer"}

# stats key -> (counter name without _total, help)
COUNTERS = {
    "read": ("edgeseg_frames_read", "Frames read from the source"),
    "frames": ("edgeseg_frames_processed", "Frames processed (warm-up included)"),
    "dropped": ("edgeseg_frames_dropped", "Frames dropped (live mode: a newer one came first)"),
    "keyframes": ("edgeseg_keyframes", "Keyframes segmented (warm-up excluded)"),
    "outages": ("edgeseg_source_outages", "Times the source was lost and reconnection began"),
    "outage_seconds": ("edgeseg_source_outage_seconds", "Seconds spent without the source, reconnecting"),
}


def metrics(stats: dict[str, Any], info: dict[str, str] | None = None, refused: dict[str, int] | None = None,
            viewers: int | None = None) -> bytes:
    """The run's statistics in Prometheus' text format, by its conventions: base units (seconds), ``_total``
    counters, an ``edgeseg_info`` metric; several streams are labelled by source (credentials masked)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

    runs = stats.get("streams") or [{"source": stats.get("source", "0"), **stats}]

    class Collector:
        def collect(self) -> Any:
            if info is not None:
                yield InfoMetricFamily("edgeseg", "What runs: edgeseg version, bundle, operating point", value=info)
            counters = {k: CounterMetricFamily(name, doc, labels=["source"]) for k, (name, doc) in COUNTERS.items()}
            fps = GaugeMetricFamily("edgeseg_fps", "Frames per second (warm-up excluded)", labels=["source"])
            stage = GaugeMetricFamily("edgeseg_stage_seconds", "Mean seconds per frame by stage", labels=["source", "stage"])
            latency = Metric("edgeseg_latency_seconds", "Frame latency, arrival to output (recent frames)", "summary")
            for run in runs:
                src = redact_uri(str(run.get("source")))
                values = {**run, **_outages(run)}
                for key, family in counters.items():
                    family.add_metric([src], float(values.get(key) or 0))  # fields a run lacks count 0
                if run.get("fps") is not None:
                    fps.add_metric([src], float(run["fps"]))
                for name, ms in (run.get("stage_ms") or stats.get("stage_ms") or {}).items():
                    stage.add_metric([src, name], float(ms) / 1000)
                for q, key in (("0.5", "p50"), ("0.99", "p99")):
                    ms = (run.get("latency_ms") or {}).get(key)
                    if ms is not None:
                        latency.add_sample("edgeseg_latency_seconds", {"source": src, "quantile": q}, float(ms) / 1000)
            yield from counters.values()
            yield from (fps, stage, latency)
            if refused is not None:
                turned = CounterMetricFamily("edgeseg_view_refused_requests", "Live-view requests refused, by reason",
                                             labels=["reason"])
                for reason in ("host", "token", "origin", "body", "busy"):
                    turned.add_metric([reason], float(refused.get(reason, 0)))
                yield turned
            if viewers is not None:
                yield GaugeMetricFamily("edgeseg_view_viewers", "Live-view MJPEG streams being watched", value=viewers)

    registry = CollectorRegistry()
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry)


def _outages(run: dict[str, Any]) -> dict[str, float]:
    """Outage count and seconds from a run's stats: ``outages: {count, seconds}`` or flat ``outages``,
    ``outage_seconds``; 0 where the stats have neither."""
    found = run.get("outages")
    if isinstance(found, dict):
        return {"outages": float(found.get("count") or 0), "outage_seconds": float(found.get("seconds") or 0)}
    return {"outages": float(found or 0), "outage_seconds": float(run.get("outage_seconds") or 0)}


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
// the token came in the URL: the cookie now carries it, so it leaves the address bar (and the history)
if (location.search.includes('token=')) history.replaceState(null, '', location.pathname);
async function refresh() {
  const s = await (await fetch('/stats.json')).json();
  const streams = s.streams || [s];
  const sum = k => streams.reduce((a, x) => a + (x[k] || 0), 0);
  document.getElementById('current').textContent = s.profile;
  document.getElementById('fps').textContent = s.fps == null ? 'warming up' : s.fps.toFixed(1);
  document.getElementById('frames').textContent = sum('frames');
  document.getElementById('dropped').textContent = sum('dropped');
  const stages = s.stage_ms || (streams[0] && streams[0].stage_ms) || {};
  const rows = document.getElementById('stages');
  rows.replaceChildren(...Object.entries(stages).map(([k, v]) => {
    const tr = document.createElement('tr');  // text nodes, not HTML: nothing in the figures can run as script
    for (const text of [`${k} ms`, v.toFixed(2)]) tr.insertCell().textContent = text;
    return tr;
  }));
}
document.getElementById('profile').addEventListener('change', e =>
  fetch('/profile', {method: 'POST', headers: {'Content-Type': 'application/json'},
                     body: JSON.stringify({name: e.target.value})}));
setInterval(refresh, 1000); refresh();
</script>
</body></html>
"""
