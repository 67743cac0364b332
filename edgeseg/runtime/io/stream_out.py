"""Network video out through the ``ffmpeg`` program: the overlay as H.264 (else MPEG-4) to

    rtsp://HOST:PORT/PATH    pushed to an RTSP server the user runs (mediamtx, gst-rtsp-server, ...), over TCP
    rtmp://HOST/APP/KEY      pushed to an RTMP server
    udp://HOST:PORT          MPEG-TS over UDP (``ffplay udp://@:PORT``, VLC)
    rtp://HOST:PORT          MPEG-TS over RTP

Frames go to ffmpeg's stdin as raw BGR at the first frame's size, from a thread of the sink's own that keeps only
the newest frame (an older one not yet sent is dropped and counted), so a slow or stalled network never holds up
the pipeline; a send stalled for ``STALL_SECONDS`` ends the sink. ffmpeg encodes and sends them. Its command line
holds the URI, which other local users can see with ``ps``: give a push server's credentials only on a machine
you trust. Its encoder is
asked once (``ffmpeg -encoders``): libx264 with zero-latency settings where it exists, else mpeg4. A receiver or
server that goes away ends the sink with ffmpeg's own reason. On a Jetson, JetPack's ffmpeg or a GStreamer
pipeline (``gst://`` sources read that way too) can use the hardware encoder instead.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
import time
from collections import deque
from typing import Sequence

import cv2
import numpy as np

from edgeseg._uri import redact_uri
from edgeseg.runtime.io.sink_base import Sink, SinkError, render
from edgeseg.runtime.io.video_options import VideoOptions

STALL_SECONDS = 10.0  # a frame ffmpeg has not taken in this long: the receiver or server is gone
FORMATS = {"rtsp://": "rtsp", "rtsps://": "rtsp", "rtmp://": "flv", "udp://": "mpegts", "rtp://": "rtp_mpegts"}


@functools.cache
def h264_encoder(ffmpeg: str) -> bool:
    """Whether this ffmpeg has libx264."""
    listed = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    return " libx264 " in listed


def is_stream_out(uri: str) -> bool:
    return uri.startswith(tuple(FORMATS))


class StreamSink(Sink):
    """The colour overlay (legend and caption as a video sink draws them) streamed to ``uri`` by ffmpeg."""

    captioned = True

    def __init__(self, uri: str, palette: np.ndarray, fps: float = 0.0, options: VideoOptions | None = None,
                 names: Sequence[str] | None = None):
        self.ffmpeg = shutil.which("ffmpeg")
        self.shown = redact_uri(uri)
        if self.ffmpeg is None:
            raise SinkError(f"streaming to {self.shown} needs the ffmpeg program: apt install ffmpeg (JetPack has it)")
        self.uri, self.palette, self.names = uri, palette, names
        self.options = options or VideoOptions()
        self.fps = self.options.output_rate(fps)
        self.format = next(f for scheme, f in FORMATS.items() if uri.startswith(scheme))
        self.proc: subprocess.Popen | None = None
        self.size: tuple[int, int] | None = None
        self._err: deque[str] = deque(maxlen=5)  # ffmpeg's last words, for the error message
        self._next: bytes | None = None  # the newest frame not yet handed to ffmpeg
        self._cond = threading.Condition()
        self._closing = False
        self._failure: SinkError | None = None
        self._sending_since: float | None = None  # when the write in progress began
        self.dropped = 0  # frames replaced by a newer one before they were sent

    def _start(self, h: int, w: int) -> None:
        assert self.ffmpeg is not None
        if h264_encoder(self.ffmpeg):
            codec = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                     "-g", str(max(1, round(self.fps)))]  # a keyframe a second: a viewer joining late starts soon
        else:
            codec = ["-c:v", "mpeg4", "-q:v", "5", "-pix_fmt", "yuv420p"]
        transport = ["-rtsp_transport", "tcp"] if self.format == "rtsp" else []
        cmd = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{w}x{h}", "-r", f"{self.fps:g}", "-i", "-", "-an", *codec, *transport, "-f", self.format, self.uri]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._drain, daemon=True, name="edgeseg-ffmpeg-err").start()
        self._sender = threading.Thread(target=self._send, daemon=True, name="edgeseg-ffmpeg-in")
        self._sender.start()
        self.size = (h, w)

    def _send(self) -> None:
        """Hand the newest frame to ffmpeg, one at a time, until the sink closes or ffmpeg stops taking them."""
        assert self.proc is not None and self.proc.stdin is not None
        while True:
            with self._cond:
                while self._next is None and not self._closing:
                    self._cond.wait()
                frame, self._next = self._next, None
                if frame is None:  # closing, nothing left to send
                    return
                self._sending_since = time.monotonic()
            try:
                self.proc.stdin.write(frame)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                with self._cond:
                    self._failure = self._failed(self.proc.poll())
                return
            finally:
                self._sending_since = None

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line.decode(errors="replace").strip())

    def _failed(self, code: int | None) -> SinkError:
        """The sink's error: ffmpeg's last line (masked), else its exit code."""
        why = redact_uri(self._err[-1]) if self._err else f"ffmpeg exited with {'?' if code is None else code}"
        return SinkError(f"streaming to {self.shown} stopped: {why}")

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "", caption: str = "") -> None:
        if self.proc is None:
            self._start(self.options.height or rgb.shape[0], self.options.width or rgb.shape[1])
        assert self.proc is not None and self.proc.stdin is not None and self.size is not None
        frame = cv2.cvtColor(render(rgb, labels, self.palette, self.names, caption=caption), cv2.COLOR_RGB2BGR)
        if frame.shape[:2] != self.size:  # a stream has one frame size
            frame = cv2.resize(frame, self.size[::-1])
        with self._cond:
            since = self._sending_since
            if self._failure is None and since is not None and time.monotonic() - since > STALL_SECONDS:
                self._failure = SinkError(f"streaming to {self.shown} stopped: no frame taken for {STALL_SECONDS:g} s "
                                          "(the receiver or server stalled)")
            if self._failure is not None:
                raise self._failure
            if self._next is not None:
                self.dropped += 1
            self._next = frame.tobytes()
            self._cond.notify()

    def close(self) -> None:
        if self.proc is None:
            return
        proc = self.proc
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._sender.join(timeout=STALL_SECONDS)  # the last frame goes out, unless ffmpeg stalled
        if self._sender.is_alive():  # stalled: ffmpeg goes, which ends the blocked write
            proc.kill()
            self._sender.join()
        self.proc = None
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -9
        if code != 0:
            raise self._failed(code)
