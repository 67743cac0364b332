"""A real network camera stand-in: ffmpeg serves a clip over HTTP (MPEG-TS) on loopback at its native rate;
`edgeseg run --mode live` reads it, the server is killed mid-stream, and the run reconnects with back-off: when the
server comes back within --reconnect seconds the frames resume and the outage is in the stats; when it does not,
the run ends 'source_lost' with exit code 1, its stats and a playable video. Skipped where ffmpeg is absent."""

import json
import shutil
import socket
import subprocess
import sys
import time

import cv2
import pytest

from tests.cli.test_failure_modes import frame_count, write_clip
from tests.conftest import SHARED

FFMPEG = shutil.which("ffmpeg")
HIGHWAY = SHARED / "video" / "solidWhiteRight.mp4"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(clip, url, seconds=None):
    """ffmpeg serving ``clip`` (its first ``seconds``) at its own rate to one client of ``url``."""
    cut = ["-t", str(seconds)] if seconds else []
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", *cut, "-i", str(clip), "-an", "-c:v",
                             "mpeg2video", "-q:v", "5", "-f", "mpegts", "-listen", "1", url], stdin=subprocess.DEVNULL)


def camera(tmp_path):
    """(clip, url, its ffmpeg server, an output folder): a network camera on loopback and where the run writes."""
    clip = HIGHWAY if HIGHWAY.is_file() else write_clip(tmp_path / "clip.avi", frames=250, size=(320, 180), fps=25)
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    out = tmp_path / "out"
    out.mkdir()
    return clip, url, serve(clip, url), out


def start_run(tiny_set, url, out, reconnect):
    run = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", "--bundle", str(tiny_set[1]), "--source", url,
                            "--mode", "live", "--profile", "evs07", "--sink", str(out / "out.mp4"), "--stats",
                            str(out / "stats.json"), "--reconnect", str(reconnect), "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not list(out.glob(".out*")) and time.time() < deadline and run.poll() is None:
        time.sleep(0.1)
    time.sleep(2.0)  # a couple of seconds of live frames
    assert run.poll() is None, run.communicate()
    return run


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt install ffmpeg)")
def test_live_stream_lost_for_good_ends_non_zero(tiny_set, tmp_path):
    clip, url, server, out = camera(tmp_path)
    try:
        time.sleep(1.5)  # ffmpeg is listening (a probe connection would take its only client slot)
        run = start_run(tiny_set, url, out, reconnect=2)
        server.kill()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        server.kill()
        server.wait()
    assert run.returncode == 1 and "Traceback" not in stderr, stderr  # a service manager sees the camera is gone
    stats = json.loads((out / "stats.json").read_text())
    assert stats["end"] == "source_lost" and "no frame for" in stats["error"]
    assert stats["mode"] == "live" and stats["frames"] > 10
    assert stats["frames"] + stats["dropped"] == stats["read"]
    assert frame_count(out / "out.mp4") == stats["frames"]
    assert cv2.VideoCapture(str(out / "out.mp4")).isOpened()


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt install ffmpeg)")
def test_live_stream_outage_is_survived_and_counted(tiny_set, tmp_path):
    clip, url, server, out = camera(tmp_path)
    try:
        time.sleep(1.5)
        run = start_run(tiny_set, url, out, reconnect=8)
        server.kill()
        server.wait()
        time.sleep(3.0)  # the camera reboots
        server = serve(clip, url, seconds=3)  # back for 3 s, then gone for good: the run ends after 8 s without frames
        stdout, stderr = run.communicate(timeout=120)
    finally:
        server.kill()
        server.wait()
    assert "Traceback" not in stderr, stderr
    stats = json.loads((out / "stats.json").read_text())
    # an outage is only counted once a frame came after it: the frames resumed after the 3 s reboot
    assert stats["outages"]["count"] == 1 and 2.0 < stats["outages"]["seconds"] < 8.0, stats["outages"]
    assert stats["streams"][0]["outages"]["count"] == 1
    assert stats["end"] == "source_lost" and run.returncode == 1
