"""A real network camera stand-in: ffmpeg serves a clip over HTTP (MPEG-TS) on loopback at its native rate;
`edgeseg run --mode live` reads it, the server is killed mid-stream, and the run retries with back-off,
then ends cleanly with its stats and a playable video. Skipped where ffmpeg is absent."""

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


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt install ffmpeg)")
def test_live_stream_survives_the_server_dying(tiny_set, tmp_path):
    clip = HIGHWAY if HIGHWAY.is_file() else write_clip(tmp_path / "clip.avi", frames=250, size=(320, 180), fps=25)
    url = f"http://127.0.0.1:{free_port()}/live.ts"
    server = subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-an", "-c:v", "mpeg2video",
                               "-q:v", "5", "-f", "mpegts", "-listen", "1", url], stdin=subprocess.DEVNULL)
    out = tmp_path / "out"
    out.mkdir()
    try:
        time.sleep(1.5)  # ffmpeg is listening (a probe connection would take its only client slot)
        run = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", "--bundle", str(tiny_set[1]), "--source", url,
                                "--mode", "live", "--profile", "evs07", "--sink", str(out / "out.mp4"), "--stats",
                                str(out / "stats.json"), "--retries", "2", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while not list(out.glob(".out*")) and time.time() < deadline and run.poll() is None:
            time.sleep(0.1)
        time.sleep(2.0)  # a couple of seconds of live frames
        assert run.poll() is None, run.communicate()
        server.kill()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        server.kill()
        server.wait()
    assert run.returncode == 0 and "Traceback" not in stderr, stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["end"] == "source_lost" and "reconnection" in stats["error"]
    assert stats["mode"] == "live" and stats["frames"] > 10
    assert stats["frames"] + stats["dropped"] == stats["read"]
    assert frame_count(out / "out.mp4") == stats["frames"]
    assert cv2.VideoCapture(str(out / "out.mp4")).isOpened()
