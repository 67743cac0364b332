"""What keeps the live view safe to leave running: who may ask (token, Host, Origin) and how much a client may cost.

``Access`` decides per request: the Host header must name this machine (an IP literal, ``localhost``, the bound
name or, bound beyond loopback, the machine's own names), which defeats DNS rebinding; a token, when there is one,
must come with every request (``?token=``, ``Authorization: Bearer``, or the cookie set after a good ``?token=``);
a state-changing request from a browser must come from the page's own origin.

``BoundedServer`` is an HTTP server whose cost is bounded whatever clients do: a connection gets a thread only once
it has sent something (1,000 idle connections cost 1,000 file descriptors, no threads, and are closed after
``IDLE_SECONDS``), at most ``MAX_ACTIVE`` requests are served at once (beyond: 503), a request must arrive whole
within ``IDLE_SECONDS`` and ``HEAD_BYTES``, and accept() errors (EMFILE) back off instead of spinning. TLS is
negotiated on the request's thread, so a slow handshake holds up nobody else.
"""

from __future__ import annotations

import errno
import hmac
import http.client
import io
import ipaddress
import selectors
import socket
import ssl
import threading
import time
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import TCPServer
from typing import Any

IDLE_SECONDS = 10.0  # an idle connection is closed after this; a request must arrive whole within it
HEAD_BYTES = 16 * 1024  # request line + headers + a small body, per connection
MAX_ACTIVE = 64  # requests served at once (MJPEG viewers included)
PER_CLIENT = 16  # of them, from one address beyond this machine: one LAN host cannot take every slot
MAX_IDLE = 1024  # connections that have sent nothing yet; the oldest is closed for a new one
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nRetry-After: 1\r\n\r\nbusy\n"


def is_loopback(host: str) -> bool:
    """``host`` (a bind address or name) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str | None) -> str:
    """The name in a Host header, lower case, without port, brackets or trailing dot ('' when malformed)."""
    h = (header or "").strip().lower()
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else ""
    return (h.rsplit(":", 1)[0] if h.count(":") == 1 else h).rstrip(".")


class Access:
    """Who may use the view: ``token`` (None: anyone who can connect) and the names the Host header may carry."""

    def __init__(self, bound: str, port: int, token: str | None, tls: bool, extra_hosts: tuple[str, ...] = ()):
        self.token, self.scheme = token, "https" if tls else "http"
        self.cookie = f"edgeseg_view_{port}"  # cookies ignore ports: one name per view, so two views never clash
        names = {"localhost", bound.lower(), *(h.lower() for h in extra_hosts)}
        if not is_loopback(bound):  # reached from the LAN: by the machine's own names too
            name = socket.gethostname().lower()
            names |= {name, f"{name}.local", socket.getfqdn().lower()}
        self.names = names

    def host_ok(self, header: str | None) -> bool:
        """An IP literal cannot be rebound (the browser's origin is that address), so any is accepted: every address
        this machine answers on (LAN, VPN, NAT) works unlisted; a name must be one of ours."""
        name = host_of(header)
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name in self.names

    def origin_ok(self, headers: Message) -> bool:
        """A browser's request that changes state comes from this view's own page (no Origin: not a browser)."""
        if headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            return False
        origin = headers.get("Origin")
        return origin is None or origin.lower() == f"{self.scheme}://{(headers.get('Host') or '').strip().lower()}"

    def authorized(self, headers: Message, query_token: str | None) -> tuple[bool, bool]:
        """(the request may proceed, it brought the token in its query: set the cookie)."""
        if self.token is None:
            return True, False
        if query_token is not None:
            return self._same(query_token), self._same(query_token)
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return self._same(auth[7:].strip()), False
        for pair in (headers.get("Cookie") or "").split(";"):  # by hand: one odd cookie of another app on this
            name, _, value = pair.strip().partition("=")     # host must not hide ours (SimpleCookie drops all)
            if name == self.cookie:
                return self._same(value.strip().strip('"')), False
        return False, False

    def set_cookie(self) -> str:
        """The Set-Cookie value after a good ``?token=``: script cannot read it, no other site's request carries it."""
        return f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.scheme == "https" else "")

    def _same(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), (self.token or "").encode())


class _Bounded(io.RawIOBase):
    """A socket's reading side that gives up after ``budget`` bytes or when ``deadline`` passes: a client that
    trickles its request (slowloris) or sends megabytes of headers loses its connection."""

    def __init__(self, sock: socket.socket, seconds: float, budget: int):
        self.sock, self.deadline, self.left = sock, time.monotonic() + seconds, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        if self.left <= 0:
            raise http.client.LineTooLong("request head")
        self.sock.settimeout(remaining)
        n = self.sock.recv_into(memoryview(buf)[:self.left])
        self.left -= n
        return n


class GuardedHandler(BaseHTTPRequestHandler):
    """A request handler that reads within ``IDLE_SECONDS`` and ``HEAD_BYTES`` and keeps quiet on stderr."""

    timeout = IDLE_SECONDS

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stock reader holds a reference on the socket: close it, read through ours
        self.rfile = io.BufferedReader(_Bounded(self.connection, IDLE_SECONDS, HEAD_BYTES))  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except http.client.LineTooLong:
            if hasattr(self, "raw_requestline"):  # a body over budget: the connection just ends
                raise
            self.requestline = self.request_version = self.command = ""  # the request line (headers: stdlib's 431)
            self.send_error(414)

    def log_message(self, *args: Any) -> None:  # no access log on the run's stderr
        pass


class BoundedServer(HTTPServer):
    """An HTTP server for the open network: see the module's docstring. ``tls``: a server-side SSLContext or None."""

    request_queue_size = 128  # the listen backlog: bursts of connections wait in the kernel, not refused

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.tls = tls
        self.slots = threading.BoundedSemaphore(MAX_ACTIVE)
        self._per_client: dict[str, int] = {}  # requests in progress by remote address (loopback not counted)
        self._lock = threading.Lock()
        self._idle: dict[socket.socket, tuple[float, Any]] = {}  # sent nothing yet -> (deadline, address); oldest first
        self._stop, self._stopped = threading.Event(), threading.Event()
        super().__init__(address, handler)
        self.socket.setblocking(False)  # a client gone between select and accept must not block the loop

    def server_bind(self) -> None:
        TCPServer.server_bind(self)  # not HTTPServer's: its getfqdn() can wait on DNS for seconds
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        """Accept, watch idle connections, hand readable ones to a thread, until ``shutdown``."""
        sel = selectors.DefaultSelector()
        sel.register(self.socket, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(poll_interval):
                    if key.fileobj is self.socket:
                        self._accept(sel)
                    else:
                        self._dispatch(sel, key.fileobj)  # type: ignore[arg-type]
                now = time.monotonic()
                while self._idle and next(iter(self._idle.values()))[0] < now:
                    self._drop_oldest(sel)
        finally:
            while self._idle:
                self._drop_oldest(sel)
            sel.close()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop the loop (requests in progress end on their own) and wait for it."""
        self._stop.set()
        self._stopped.wait(5)

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client's mistake is no traceback
        pass

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            sock, addr = self.socket.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:  # out of descriptors or buffers: free one and back off instead of spinning
            self._drop_oldest(sel)
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                time.sleep(0.05)
            return
        if len(self._idle) >= MAX_IDLE:
            self._drop_oldest(sel)
        self._idle[sock] = (time.monotonic() + IDLE_SECONDS, addr)
        sel.register(sock, selectors.EVENT_READ)

    def _dispatch(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        sel.unregister(sock)
        _, addr = self._idle.pop(sock)
        admitted = self._claim(addr)
        if admitted and not self.slots.acquire(blocking=False):
            admitted = not self._unclaim(addr)
        if not admitted:
            try:
                if self.tls is None:  # on a TLS port plain text would only garble: the connection just closes
                    sock.setblocking(False)
                    sock.send(BUSY)
            except OSError:
                pass
            sock.close()
            return
        threading.Thread(target=self._work, args=(sock, addr), name="edgeseg-http-request", daemon=True).start()

    def _claim(self, addr: Any) -> bool:
        """Count a request of ``addr``; False when that address already has ``PER_CLIENT`` in progress."""
        host = str(addr[0])
        if is_loopback(host):
            return True
        with self._lock:
            if self._per_client.get(host, 0) >= PER_CLIENT:
                return False
            self._per_client[host] = self._per_client.get(host, 0) + 1
            return True

    def _unclaim(self, addr: Any) -> bool:
        """Uncount a request of ``addr`` (True, so it reads as a step of a condition)."""
        host = str(addr[0])
        if not is_loopback(host):
            with self._lock:
                left = self._per_client.get(host, 1) - 1
                if left > 0:
                    self._per_client[host] = left
                else:
                    self._per_client.pop(host, None)
        return True

    def _work(self, sock: socket.socket, addr: Any) -> None:
        try:
            sock.settimeout(IDLE_SECONDS)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.finish_request(sock, addr)
        except Exception:  # noqa: S110 (a failed handshake, a client gone: its connection ends, nothing else)
            pass
        finally:
            self.shutdown_request(sock)
            self.slots.release()
            self._unclaim(addr)

    def _drop_oldest(self, sel: selectors.BaseSelector) -> None:
        if self._idle:
            sock = next(iter(self._idle))
            del self._idle[sock]
            sel.unregister(sock)
            sock.close()
