"""The live view safe by default (edgeseg.runtime.io.http_guard): a token beyond loopback, Host and Origin checks,
TLS, credentials masked, bounded requests and connections, encoding off the pipeline's thread. Real sockets and
real HTTP against a real LiveViewServer in this process (a subprocess where a low descriptor limit is needed)."""

import http.client
import json
import os
import re
import resource
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from edgeseg._uri import redact_uri
from edgeseg.errors import UsageError
from edgeseg.runtime.io import http_guard
from edgeseg.runtime.io.http_view import MAX_STREAMS, TOKEN_ENV, LiveViewServer

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)


@pytest.fixture
def open_view(monkeypatch):
    """Views on port 0 (any free port), closed after the test; no token from the environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    views = []

    def make(uri="http://127.0.0.1:0"):
        views.append(LiveViewServer(uri, PALETTE, ["a", "b", "c"]))
        views[-1].profiles = ["a", "b", "c"]  # what attach() offers; a view offering nothing takes no request
        return views[-1]
    yield make
    for view in views:
        view.close()


def port_of(view):
    return view.server.server_address[1]


def raw(view, request: bytes, timeout=10) -> tuple[int, dict, bytes]:
    """Send ``request`` bytes as they are; (status, headers, body) of the answer (status 0: no answer)."""
    with socket.create_connection(("127.0.0.1", port_of(view)), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return int(lines[0].split()[1]), headers, body


def request(method="GET", path="/stats.json", host="127.0.0.1", headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.0", *([f"Host: {host}"] if host else []), *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def post(name="b", **kw):
    body = json.dumps({"name": name}).encode()
    return request("POST", "/profile", body=body, headers=("Content-Type: application/json", *kw.pop("headers", ())), **kw)


def test_redact_uri_masks_passwords_tokens_and_signatures():
    assert redact_uri("rtsp://admin:pw@cam/live") == "rtsp://admin:***@cam/live"
    assert redact_uri("rtmp://a.rtmp.youtube.com/live2/abcd-efgh") == "rtmp://a.rtmp.youtube.com/live2/***"  # stream key
    assert redact_uri("rtmp://host:1935/live") == "rtmp://host:1935/live"  # no key: nothing to hide
    assert redact_uri("srt://h:9000?passphrase=abc&latency=1") == "srt://h:9000?passphrase=***&latency=1"
    assert redact_uri("s3://AKIA:sec@ret@bucket/x.mp4") == "s3://AKIA:***@bucket/x.mp4"  # '@' in the password too
    assert redact_uri("s3://TOKEN@bucket/x") == "s3://***@bucket/x"
    assert redact_uri('{"a": "rtsp://u:p@h/1","b":"x@y"}') == '{"a": "rtsp://u:***@h/1","b":"x@y"}'
    assert redact_uri("http://h:1/?token=abc&fps=5") == "http://h:1/?token=***&fps=5"
    assert redact_uri("https://b/o?X-Amz-Signature=abc&v=1") == "https://b/o?X-Amz-Signature=***&v=1"
    assert redact_uri("/data/clip.mp4 and http://host/a@b") == "/data/clip.mp4 and http://host/a@b"


def test_a_lan_bind_needs_a_token_printed_once_and_checked_on_every_request(open_view, capsys):
    view = open_view("http://0.0.0.0:0")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "?token=" in lines[0]
    token = lines[0].rsplit("?token=", 1)[1]
    assert len(token) >= 32
    assert raw(view, request())[0] == 401  # no token
    assert raw(view, request(path="/stats.json?token=wrong"))[0] == 401
    assert raw(view, request(headers=["Authorization: Bearer wrong"]))[0] == 401
    assert raw(view, request(path="/stream.mjpg"))[0] == 401
    assert raw(view, post())[0] == 401 and view.take_request() is None
    status, headers, _ = raw(view, request(path=f"/?token={token}"))
    cookie = headers["set-cookie"][0]
    assert status == 200 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert raw(view, request(headers=[f"Cookie: {cookie.split(';')[0]}"]))[0] == 200
    assert raw(view, request(headers=[f"Authorization: Bearer {token}"]))[0] == 200
    assert raw(view, post(headers=[f"Authorization: Bearer {token}"]))[0] == 200 and view.take_request() == "b"
    # a good token does not excuse a foreign Host name
    assert raw(view, request(host="attacker.example", headers=[f"Authorization: Bearer {token}"]))[0] == 421
    assert view.refused["token"] == 5 and view.refused["host"] == 1
    assert capsys.readouterr().err == ""  # printed once


def test_loopback_needs_no_token_unless_one_is_given(open_view, monkeypatch, capsys):
    assert raw(open_view(), request())[0] == 200
    monkeypatch.setenv(TOKEN_ENV, "from-the-env")
    view = open_view()
    assert raw(view, request())[0] == 401 and raw(view, request(path="/?token=from-the-env"))[0] == 200
    given = open_view("http://127.0.0.1:0?token=from-the-uri")
    assert raw(given, request(headers=["Authorization: Bearer from-the-env"]))[0] == 401
    assert raw(given, request(headers=["Authorization: Bearer from-the-uri"]))[0] == 200
    assert capsys.readouterr().err == ""  # a token given is not printed


def test_host_names_and_cross_origin_posts_are_refused(open_view):
    view = open_view()
    port = port_of(view)
    for host in ("attacker.example", "localhost.attacker.example", ""):
        assert raw(view, request(host=host))[0] == 421, host
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert raw(view, request(host=host))[0] == 200, host
    assert raw(open_view("http://127.0.0.1:0?hosts=jetson.lab"), request(host="jetson.lab"))[0] == 200
    assert raw(view, post(headers=["Origin: http://evil.example"]))[0] == 403
    assert raw(view, post(host=f"127.0.0.1:{port}", headers=[f"Origin: http://127.0.0.1:{port + 1}"]))[0] == 403
    assert raw(view, post(headers=["Origin: null"]))[0] == 403
    assert raw(view, post(headers=["Sec-Fetch-Site: cross-site"]))[0] == 403
    assert view.take_request() is None and view.refused["origin"] == 4
    assert raw(view, post(host=f"127.0.0.1:{port}", headers=[f"Origin: http://127.0.0.1:{port}"]))[0] == 200
    assert view.take_request() == "b"


def test_credentials_never_appear_in_stats_metrics_or_page(open_view):
    view = open_view()
    run = {"source": "rtsp://admin:hunter2@cam/live", "frames": 9, "read": 9, "fps": 20.0, "error": "lost rtsp://admin:hunter2@cam/live",
           "stage_ms": {"flow": 2.0}, "latency_ms": {"p50": 10.0, "p99": 30.0}}
    view.stats = lambda: {**run, "streams": [run]}
    for path in ("/", "/stats.json", "/metrics"):
        status, _, body = raw(view, request(path=path))
        assert status == 200 and b"hunter2" not in body, path
    assert b"admin:***@cam" in raw(view, request(path="/stats.json"))[2]
    assert b'source="rtsp://admin:***@cam/live"' in raw(view, request(path="/metrics"))[2]


def test_metrics_follow_prometheus_conventions(open_view):
    view = open_view()
    run = {"source": "cam", "frames": 12, "read": 14, "dropped": 2, "keyframes": 3, "fps": 25.0,
           "outages": {"count": 1, "seconds": 2.5}, "stage_ms": {"flow": 4.0}, "latency_ms": {"p50": 12.0, "p99": 40.0}}
    view.stats = lambda: {**run, "streams": [run]}
    view.current, view.bundle = (lambda: "evs07"), "bundle_default"
    text = raw(view, request(path="/metrics"))[2].decode()
    samples = dict(re.findall(r"^(\S+) (\S+)$", text, re.M))
    assert samples['edgeseg_frames_read_total{source="cam"}'] == "14.0"
    assert samples['edgeseg_frames_processed_total{source="cam"}'] == "12.0"
    assert samples['edgeseg_frames_dropped_total{source="cam"}'] == "2.0"
    assert samples['edgeseg_keyframes_total{source="cam"}'] == "3.0"
    assert samples['edgeseg_source_outages_total{source="cam"}'] == "1.0"
    assert samples['edgeseg_source_outage_seconds_total{source="cam"}'] == "2.5"
    assert float(samples['edgeseg_stage_seconds{source="cam",stage="flow"}']) == pytest.approx(0.004)
    assert float(samples['edgeseg_latency_seconds{quantile="0.99",source="cam"}']) == pytest.approx(0.04)
    assert "# TYPE edgeseg_latency_seconds summary" in text and "milliseconds" not in text
    from edgeseg import __version__
    assert samples[f'edgeseg_info{{bundle="bundle_default",profile="evs07",version="{__version__}"}}'] == "1.0"
    del run["outages"]  # stats without outage fields (older sessions): 0
    assert 'edgeseg_source_outages_total{source="cam"} 0.0' in raw(view, request(path="/metrics"))[2].decode()


def test_requests_are_bounded(open_view):
    view = open_view()
    deep = request("POST", "/profile", headers=["Content-Type: application/json"], body=b"[" * 3000)
    status, _, body = raw(view, deep)
    assert status == 400 and "nested" in json.loads(body)["error"]
    assert raw(view, request("POST", "/profile", headers=["Content-Type: application/json"], body=b" " * 5000))[0] == 413
    assert raw(view, request("POST", "/profile", headers=["Content-Type: text/plain"], body=b'{"name": "b"}'))[0] == 415
    assert raw(view, request(path="/" + "a" * 20_000))[0] == 414
    assert raw(view, request(headers=[f"X-{i}: y" for i in range(101)]))[0] == 431
    assert raw(view, request(headers=["X-Big: " + "y" * 20_000]))[0] == 431
    assert view.take_request() is None


def test_idle_and_trickling_connections_are_closed(open_view, monkeypatch):
    monkeypatch.setattr(http_guard, "IDLE_SECONDS", 1.0)
    view = open_view()
    with socket.create_connection(("127.0.0.1", port_of(view)), timeout=30) as idle:
        assert idle.recv(1) == b""  # closed by the server, with no request sent
    with socket.create_connection(("127.0.0.1", port_of(view)), timeout=30) as slow:
        slow.sendall(b"GET /stats.json HTTP/1.0\r\n")
        with pytest.raises(OSError):  # slowloris: a byte now and then does not keep the request alive
            for _ in range(60):
                time.sleep(0.1)
                slow.sendall(b"X")
            pytest.fail("a trickled request kept its connection")


def test_a_thousand_idle_connections_starve_nothing(open_view):
    view = open_view()
    n = min(1000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2 - 50)  # each costs a descriptor on both sides
    idle = [socket.create_connection(("127.0.0.1", port_of(view))) for _ in range(n)]
    try:
        assert n >= 200, "descriptor limit too low for this test"
        for path in ("/stats.json", "/metrics", "/"):
            assert raw(view, request(path=path))[0] == 200
        assert raw(view, post())[0] == 200 and view.take_request() == "b"
    finally:
        for s in idle:
            s.close()


def test_viewers_beyond_the_cap_get_503_and_the_rest_still_answers(open_view):
    view = open_view()
    streams = []
    try:
        for _ in range(MAX_STREAMS):
            s = socket.create_connection(("127.0.0.1", port_of(view)), timeout=10)
            s.sendall(request(path="/stream.mjpg"))
            assert s.recv(12) == b"HTTP/1.0 200"
            streams.append(s)
        assert view.watchers == MAX_STREAMS
        assert raw(view, request(path="/stream.mjpg"))[0] == 503
        assert raw(view, request())[0] == 200  # slots are kept for the page and the figures
    finally:
        for s in streams:
            s.close()


def test_encoding_happens_off_the_pipeline_thread_newest_frame_only(open_view):
    view = open_view()
    rgb = np.zeros((48, 64, 3), np.uint8)
    session = SimpleNamespace(streams=[SimpleNamespace(last=(rgb, np.ones((48, 64), np.uint8)))])
    for _ in range(100):
        view.on_tick(session, None)
    time.sleep(0.3)
    assert view._seq == 0  # nobody watches: nothing encoded
    with urllib.request.urlopen(f"http://127.0.0.1:{port_of(view)}/stream.mjpg", timeout=10) as stream:
        for _ in range(100):  # 100 ticks handed over in a burst: the encoder takes the newest, not each
            view.on_tick(session, None)
        head = stream.read(200)  # the first part's boundary and the start of its JPEG
    assert b"--edgeseg-frame" in head and b"\xff\xd8" in head
    assert 1 <= view._seq < 50


def test_tls_with_a_self_signed_certificate(open_view, tmp_path):
    cert, key = self_signed(tmp_path)
    view = open_view(f"https://127.0.0.1:0?cert={cert}&key={key}")
    assert view.url.startswith("https://")
    ctx = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(f"https://localhost:{port_of(view)}/stats.json", context=ctx, timeout=10) as r:
        assert r.status == 200
    plain = http.client.HTTPConnection("127.0.0.1", port_of(view), timeout=10)
    with pytest.raises((OSError, http.client.HTTPException)):  # plain HTTP to the TLS port: no HTTP answer
        plain.request("GET", "/stats.json")
        plain.getresponse()
    with pytest.raises(UsageError, match="cert=FILE"):
        LiveViewServer("https://127.0.0.1:0", PALETTE, None)
    with pytest.raises(UsageError, match="unknown option 'tokn'"):
        LiveViewServer("http://127.0.0.1:0?tokn=x", PALETTE, None)


def self_signed(tmp_path):
    """A certificate for localhost and its key, made here (cryptography, else the openssl command)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                  "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                                  "-addext", "subjectAltName=DNS:localhost"], capture_output=True)
        if openssl.returncode:
            pytest.skip("neither the cryptography package nor a working openssl command to make a certificate")
        return cert, key
    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
           .not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(pkey, hashes.SHA256()))
    cert.write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key


SERVER = textwrap.dedent("""
    import resource, sys, numpy as np
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    from edgeseg.runtime.io.http_view import LiveViewServer
    view = LiveViewServer("http://127.0.0.1:0", np.zeros((2, 3), np.uint8), None)
    print(view.server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes it
    view.close()
""")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_the_server_backs_off_and_keeps_answering():
    child = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    idle = []
    try:
        port = int(child.stdout.readline())
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]  # 3x its descriptor limit
        before, wall = cpu_seconds(child.pid), time.monotonic()
        time.sleep(2.0)
        # not a timing target: a loop spinning on EMFILE burns a whole core, backing off burns next to nothing
        assert cpu_seconds(child.pid) - before < 0.5 * (time.monotonic() - wall)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # oldest idle ones make room for it
        for _ in range(20):
            try:
                conn.request("GET", "/stats.json")
                assert conn.getresponse().status == 200
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                time.sleep(0.2)
        else:
            pytest.fail("no answer while out of descriptors")
    finally:
        for s in idle:
            s.close()
        child.communicate("", timeout=30)
    assert child.returncode == 0


def test_one_lan_address_cannot_take_every_slot_and_odd_cookies_do_not_hide_the_token():
    from email.message import Message

    from edgeseg.runtime.io import http_guard
    server = http_guard.BoundedServer.__new__(http_guard.BoundedServer)  # the accounting alone, no socket
    server._per_client, server._lock = {}, __import__("threading").Lock()
    lan, other = ("192.168.1.7", 5000), ("192.168.1.8", 5000)
    assert all(server._claim(lan) for _ in range(http_guard.PER_CLIENT))
    assert not server._claim(lan) and server._claim(other)  # the flooding host is refused, another gets in
    server._unclaim(lan)
    assert server._claim(lan)
    assert all(server._claim(("127.0.0.1", 1)) for _ in range(3 * http_guard.PER_CLIENT))  # this machine: not capped
    access = http_guard.Access("0.0.0.0", 8090, "s3cr3t", False, ())
    headers = Message()
    headers["Cookie"] = f'other={{"json": 1}}; spaced=a b; {access.cookie}=s3cr3t'
    assert access.authorized(headers, None) == (True, False)
    headers.replace_header("Cookie", f"{access.cookie}=wrong")
    assert access.authorized(headers, None) == (False, False)


def test_a_view_that_offers_nothing_takes_no_request(open_view):
    view = open_view()
    view.profiles = []
    assert raw(view, post("/etc/passwd"))[0] == 400 and view.take_request() is None  # never a path from the network
