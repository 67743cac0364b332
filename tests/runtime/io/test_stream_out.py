"""Network video out through a real ffmpeg: MPEG-TS over UDP to a receiver on loopback, and an RTSP push to a server
(ffmpeg listening as one). The receivers' files must hold the frames sent. Skipped where ffmpeg is absent."""

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from edgeseg.runtime.io.sinks import SinkError, open_sink
from edgeseg.runtime.io.stream_out import StreamSink
from tests.cli.test_failure_modes import frame_count

FFMPEG = shutil.which("ffmpeg")
PALETTE = np.array([[10, 20, 30], [200, 100, 50]], np.uint8)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt install ffmpeg)")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(uri, frames=50):
    sink = open_sink(uri, PALETTE, fps=25)
    assert isinstance(sink, StreamSink)
    rng = np.random.default_rng(0)
    for i in range(frames):
        rgb = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        labels = (rng.random((96, 128)) > 0.5).astype(np.uint8)
        sink.write(rgb, labels, i, caption=f"frame {i}")
        time.sleep(0.01)
    sink.close()
    return sink


def receive(url, out, *opts):
    return subprocess.Popen([FFMPEG, "-hide_banner", "-loglevel", "error", *opts, "-i", url, "-c", "copy", "-y", str(out)],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_udp_out_reaches_a_receiver(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    out = tmp_path / "got.ts"
    rx = receive(f"udp://127.0.0.1:{port}?timeout=3000000", out)  # ends 3 s after the last packet
    time.sleep(1.0)
    send(f"udp://127.0.0.1:{port}")
    rx.wait(timeout=30)
    assert frame_count(out) >= 40  # UDP may lose a packet on a busy machine, not the stream


def test_rtsp_push_reaches_a_server(tmp_path):
    port = free_port()
    out = tmp_path / "got.mkv"
    server = receive(f"rtsp://127.0.0.1:{port}/live", out, "-rtsp_flags", "listen", "-timeout", "20")
    time.sleep(1.0)
    sink = send(f"rtsp://127.0.0.1:{port}/live")
    server.wait(timeout=30)
    # the newest frame wins while ffmpeg connects: every frame is either received or counted as dropped
    assert frame_count(out) + sink.dropped == 50 and frame_count(out) >= 25


def test_a_server_that_is_not_there_is_one_clear_error():
    port = free_port()
    with pytest.raises(SinkError, match=f"streaming to rtsp://user:\\*\\*\\*@127.0.0.1:{port}/live stopped"):
        send(f"rtsp://user:secret@127.0.0.1:{port}/live", frames=200)


def test_a_stalled_receiver_never_holds_up_the_writer(tmp_path):
    """A TCP server that accepts the RTSP connection and never answers: writes return at once (the newest frame
    waits for the sender thread) and the sink fails within its stall limit instead of blocking the pipeline."""
    from edgeseg.runtime.io import stream_out
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stream_out.STALL_SECONDS, saved = 2.0, stream_out.STALL_SECONDS
    try:
        sink = open_sink(f"rtsp://127.0.0.1:{port}/live", PALETTE, fps=25)
        frame, labels = np.zeros((96, 128, 3), np.uint8), np.zeros((96, 128), np.uint8)
        slowest, began = 0.0, time.monotonic()
        with pytest.raises(SinkError, match="stopped"):
            while time.monotonic() - began < 30:
                t = time.monotonic()
                sink.write(frame, labels, 0)
                slowest = max(slowest, time.monotonic() - t)
                time.sleep(0.02)
        assert slowest < 1.0  # no write waited on the network
        with pytest.raises(SinkError):
            sink.close()
        assert sink.proc is None
    finally:
        stream_out.STALL_SECONDS = saved
        listener.close()
