"""The live view (--sink http://...): page, MJPEG stream, /stats.json, /metrics, switching the operating point
while the run goes on, a client that leaves mid-stream, a port in use; and the page in a real headless
Chromium (skipped with the reason where Chromium, its driver or selenium are absent): opened with its token, and
another site's page that tries to switch the operating point (CSRF). The run here has a token, so every request
shows it (test_http_guard.py: the rest of the hardening)."""

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_failure_modes import default_signals, one_line, write_clip
from tests.conftest import run_cli


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TOKEN = "t0ken-for-the-test"


def get(url, data=None, timeout=5, token=TOKEN):
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def stats(base):
    return json.loads(get(base + "stats.json")[1])


@pytest.fixture
def live_run(tiny_set, tmp_path):
    """``edgeseg run`` on a clip played live at 20 FPS (about 2 minutes) into an http:// sink; stopped at the end."""
    clip = write_clip(tmp_path / "long.avi", frames=2400, fps=20)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", "--bundle", str(tiny_set[1]), "--source", str(clip),
                             "--mode", "live", "--sink", f"http://127.0.0.1:{port}?token={TOKEN}", "--profile", "evs07",
                             "--stats", str(tmp_path / "s.json"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if stats(base)["frames"] > 5:
                break
        except (OSError, ValueError, KeyError):
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read())
        time.sleep(0.2)
    yield base, proc, tmp_path
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 128 + signal.SIGINT) and "Traceback" not in err, err  # stopped on request


def test_page_stream_stats_metrics_and_switching(live_run):
    base, proc, tmp_path = live_run
    status, page = get(base)
    assert status == 200 and b"Sky" in page and b"evs14" in page and b"/stream.mjpg" in page
    with pytest.raises(urllib.error.HTTPError) as anonymous:  # a token was given: nothing without it
        get(base + "stats.json", token=None)
    assert anonymous.value.code == 401
    text = get(base + "metrics")[1]
    assert b"edgeseg_frames_processed_total" in text and b'edgeseg_stage_seconds{source=' in text and b'stage="flow"' in text
    assert b'edgeseg_info{bundle="' in text and b'profile="evs07"' in text
    with urllib.request.urlopen(base + f"stream.mjpg?token={TOKEN}", timeout=10) as stream:  # a client that leaves mid-stream
        head = stream.read(4096)
    assert b"--edgeseg-frame" in head and b"\xff\xd8" in head  # a JPEG part
    assert stats(base)["profile"] == "evs07"
    assert get(base + "profile", {"name": "evs14"})[0] == 200
    deadline = time.time() + 20
    while stats(base)["profile"] != "evs14" and time.time() < deadline:
        time.sleep(0.2)
    before = stats(base)
    assert before["profile"] == "evs14"
    time.sleep(1.0)
    assert stats(base)["frames"] > before["frames"]  # the run went on after the client left
    with pytest.raises(urllib.error.HTTPError) as bad:
        get(base + "profile", {"name": "no-such-point"})
    assert bad.value.code == 400


def test_a_port_in_use_is_one_line(tiny_set, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(tiny_set[0] / "frames"),
                    "--sink", f"http://127.0.0.1:{port}", "--quiet")
    one_line(r, 1, f"127.0.0.1:{port}", "in use")


def _browser():
    missing = [what for what, ok in (("chromium", shutil.which("chromium") or shutil.which("chromium-browser")),
                                     ("chromedriver", shutil.which("chromedriver"))) if not ok]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs Debian's chromium and chromium-driver)")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,800"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def test_the_page_in_a_real_browser(live_run):
    base, proc, tmp_path = live_run
    browser = _browser()
    try:
        from selenium.webdriver.support.ui import Select, WebDriverWait
        browser.get(base + f"?token={TOKEN}")  # as printed at start: the page sets the cookie the stream and figures use
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: b.execute_script("const i = document.getElementById('stream'); return i.complete && i.naturalWidth > 0"))
        wait.until(lambda b: b.find_element("id", "current").text == "evs07")
        frames = int(browser.find_element("id", "frames").text)
        Select(browser.find_element("id", "profile")).select_by_value("evs13")
        wait.until(lambda b: b.find_element("id", "current").text == "evs13")
        wait.until(lambda b: int(b.find_element("id", "frames").text) > frames)
        assert "Sky" in browser.find_element("id", "legend").text
        assert "token" not in browser.current_url  # the cookie carries it now; the address bar and history do not
        shot = Path(tmp_path) / "live_view.png"
        browser.save_screenshot(str(shot))  # the test's artefact
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        browser.quit()
    assert stats(base)["profile"] == "evs13"


def test_only_points_the_bundle_can_run_are_offered_and_posts_must_be_json(tmp_path):
    import numpy as np

    from edgeseg.bundle import load_bundle
    from edgeseg.cli.run_cmd import offered_points
    from edgeseg.runtime.io.http_view import LiveViewServer
    from tests.bundle.test_manifest import V1
    view = LiveViewServer(f"http://127.0.0.1:{free_port()}", np.zeros((11, 3), np.uint8), ["c"] * 11)
    try:
        view.profiles = offered_points(load_bundle(V1))  # a bundle without refiner or heads
        assert "evs07" in view.profiles and not {"evs06", "grfp", "gcrf", "netwarp"} & set(view.profiles)
        req = urllib.request.Request(view.url + "profile", data=b'{"name": "evs03"}', headers={"Content-Type": "text/plain"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        assert refused.value.code == 415 and view.take_request() is None
        assert get(view.url + "profile", {"name": "evs03"}, token=None)[0] == 200 and view.take_request() == "evs03"
    finally:
        view.close()


ATTACK = """<!doctype html><html><body>
<form id="f" method="POST" action="{target}profile" enctype="text/plain">
  <input name='{{"name": "evs14", "pad": "' value='"}}'>
</form>
<script>
fetch('{target}profile', {{method: 'POST', mode: 'no-cors', body: '{{"name": "evs14"}}'}});
document.getElementById('f').submit();
</script></body></html>"""


def test_another_sites_page_cannot_switch_the_operating_point(tmp_path, monkeypatch):
    """CSRF: a page from another origin posts to the live view (a form whose text/plain body is valid JSON, and a
    no-cors fetch); the view refuses both by their Origin and nothing is switched."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import numpy as np

    from edgeseg.runtime.io.http_view import TOKEN_ENV, LiveViewServer
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    browser = _browser()
    view = LiveViewServer("http://127.0.0.1:0", np.zeros((3, 3), np.uint8), ["a", "b", "c"])
    view.profiles = ["evs07", "evs14"]
    page = ATTACK.format(target=view.url).encode()

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass
    site = HTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://localhost:{site.server_address[1]}/")  # another origin: another host name and port
        deadline = time.time() + 20
        while view.refused["origin"] < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert view.refused["origin"] == 2  # both reached the view and were refused
        assert view.take_request() is None
    finally:
        browser.quit()
        site.shutdown()
        view.close()
