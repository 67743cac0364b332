"""Output sinks from DESIGN.md's URIs: ``display://0``, ``file://out.mp4`` (or a path with a video extension),
a folder (one label PNG per frame: class ids; ``?colour=1``: the classes' colours), ``rtsp://``, ``rtmp://``,
``udp://``, ``rtp://`` (streamed by ffmpeg: ``edgeseg.runtime.io.stream_out``), ``http://127.0.0.1:8090`` (a live
view in the browser, ``edgeseg.runtime.io.http_view``, attached by the session), ``null://``. Video settings (rate, codec, size)
come from ``edgeseg.runtime.io.video_options`` (flags, or ``file://out.mp4?rate=25&codec=avc1``).

Video files are written to a temporary name, checked when closed (it opens and holds every frame) and only
then renamed, so an interrupted run, a full disk or a refused write leaves either a finalised, playable file
or nothing under the requested name. Every failure to write is a SinkError naming the file and the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edgeseg._fs import atomic_path, check_folder, default_mode, is_special, sweep_stale_temps, temp_name
from edgeseg._uri import redact_uri
from edgeseg.errors import UsageError
from edgeseg.runtime.io.sink_base import Sink, SinkError, render  # noqa: F401 (read from here too)
from edgeseg.runtime.io.sources import VIDEO_EXTENSIONS
from edgeseg.runtime.io.stream_out import StreamSink, is_stream_out
from edgeseg.runtime.io.video_options import VideoOptions, split_uri

# What OpenCV's FFmpeg writer produces playable files with, by container (checked: they read back whole).
WRITE_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}
_probed: dict[tuple[str, str], bool] = {}


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class NullSink(Sink):
    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        pass


class LabelFolderSink(Sink):
    """One PNG per frame: class ids (``palette`` given: the classes' colours, to look at)."""

    def __init__(self, folder: Path, palette: np.ndarray | None = None):
        if not folder.is_dir():
            check_folder(folder / "x", make_folder=True)  # the folder named is made; its parents must exist
        if not os.access(folder, os.W_OK):
            raise SinkError(f"output folder {folder} is not writable")
        self.folder, self.palette = folder, palette
        sweep_stale_temps(folder, ".*.png.pid*.tmp")  # a killed run's half-written PNGs; then each write skips the sweep

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        # the source's name for the frame (an image's stem) so labels pair with their images; else the number
        name = name or f"{index:06d}"
        path = self.folder / f"{name}.png"
        image = labels if self.palette is None else cv2.cvtColor(self.palette[labels], cv2.COLOR_RGB2BGR)
        ok, png = cv2.imencode(".png", image)
        if not ok:
            raise SinkError(f"cannot encode the labels of {path} as PNG")
        try:  # Python's own write: a full disk raises here (cv2.imwrite may report success on a short write)
            with atomic_path(path, sweep=False) as tmp:
                tmp.write_bytes(png.tobytes())
        except OSError as exc:
            raise SinkError(f"cannot write {path}: {_why(exc)}") from None


class VideoSink(Sink):
    """Colour overlay video (with a class legend when ``names`` are given); written under a temporary name,
    checked and renamed on close."""

    def __init__(self, path: Path, palette: np.ndarray, fps: float = 0.0, alpha: float = 0.5,
                 options: VideoOptions | None = None, names: Sequence[str] | None = None):
        self.options, self.names = options or VideoOptions(), names
        self.path, self.palette, self.fps, self.alpha = path, palette, self.options.output_rate(fps), alpha
        self.codec = self.options.codec or WRITE_CODECS.get(path.suffix.lower(), "")
        choices = ", ".join(f"{ext} ({c})" for ext, c in WRITE_CODECS.items())
        if not self.codec:  # .ts/.mpg are read, not written: OpenCV's writer cannot finish a checkable file of them
            raise SinkError(f"edgeseg reads {path.suffix} videos but does not write them; write one of {choices}")
        if len(self.codec) != 4:
            raise SinkError(f"codec {self.codec!r} for {path} is not a four-character code (e.g. mp4v, MJPG, VP80)")
        if not _writes_playable(path.suffix.lower(), self.codec, self.fps):
            raise SinkError(f"OpenCV cannot write a playable {path.suffix} video with codec {self.codec} here; use {choices} "
                            "or another --codec")
        # a device or FIFO named as the output gets the finished file written through it; a symlink's target is
        # replaced; the video is made under a temporary name meanwhile (in the system's temp folder for a device)
        self.special = is_special(path)
        self.dest = path if self.special else Path(os.path.realpath(path)) if path.is_symlink() else path
        if self.special:
            self.tmp = temp_name(Path(tempfile.gettempdir()) / f"edgeseg-{path.name}{path.suffix}", path.suffix)
        else:
            check_folder(self.dest)
            if not os.access(self.dest.parent, os.W_OK):
                raise SinkError(f"cannot write {path}: folder {self.dest.parent} is not writable")
            self.tmp = temp_name(self.dest, path.suffix)
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0
        self.resized = False  # a frame of another size was scaled (said once)

    captioned = True

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "", caption: str = "") -> None:
        if self.writer is None:
            opts = self.options
            self.size = (opts.height or rgb.shape[0], opts.width or rgb.shape[1])
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.codec), self.fps, self.size[::-1])
            if not self.writer.isOpened():
                raise SinkError(f"OpenCV cannot write video {self.path} with codec {self.codec} (unavailable in this build?)")
        if rgb.shape[:2] != self.size:  # a video has one frame size: scale frames to it
            if not self.resized and not (self.options.width or self.options.height):
                print(f"edgeseg: frames of {rgb.shape[1]}x{rgb.shape[0]} are scaled to the video's {self.size[1]}x{self.size[0]} "
                      f"(its first frame's size) in {self.path}", file=sys.stderr)
            self.resized = True
            rgb = cv2.resize(rgb, self.size[::-1])
            labels = cv2.resize(labels, self.size[::-1], interpolation=cv2.INTER_NEAREST)
        frame = render(rgb, labels, self.palette, self.names, self.alpha, caption)
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        """Finalise the video and put it under its name, or remove it and raise SinkError if it is incomplete."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        try:
            if not self.frames:
                return
            problem = self._check()
            if problem:
                raise SinkError(f"the video {self.path} could not be completed ({problem}; disk full?); nothing was kept")
            try:
                if self.special:
                    with open(self.tmp, "rb") as src, open(self.dest, "ab") as dst:  # appended: never truncates
                        shutil.copyfileobj(src, dst)
                else:
                    os.chmod(self.tmp, default_mode())
                    os.replace(self.tmp, self.dest)
            except OSError as exc:
                raise SinkError(f"cannot write {self.path}: {_why(exc)}") from None
        finally:
            self.tmp.unlink(missing_ok=True)

    def _check(self) -> str:
        """Why the written file is not a complete video ("" when it is): it must open and list every frame."""
        if not self.tmp.is_file() or self.tmp.stat().st_size == 0:
            return "nothing was written"
        count = _frames_in(self.tmp)
        if count < 0:
            return "the file does not open as a video"
        return "" if count == self.frames else f"it holds {count} of {self.frames} frames"


def _frames_in(path: str | Path) -> int:
    """The frame count a video file lists, or -1 when it does not open as a video."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else -1
    finally:
        cap.release()


def _writes_playable(suffix: str, codec: str, fps: float) -> bool:
    """Whether OpenCV writes a video that reads back whole with this container, codec and rate (tried once on a
    tiny clip: some containers accept a codec, then write files nothing can open)."""
    key = (suffix, f"{codec}@{fps:g}")
    if key not in _probed:
        fd, name = tempfile.mkstemp(suffix=suffix)
        os.close(fd)
        try:
            writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*codec), fps, (32, 32))
            for i in range(3):
                writer.write(np.full((32, 32, 3), 60 * i, np.uint8))
            writer.release()
            _probed[key] = _frames_in(name) == 3
        finally:
            os.unlink(name)
    return _probed[key]


def display_available() -> bool:
    """Whether this OpenCV can open windows (opencv-python-headless cannot) and a display is set."""
    gui = next((line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")), "GUI: NONE")
    return "NONE" not in gui and bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class DisplaySink(Sink):
    """An OpenCV window per display index (``display://N``: window ``edgeseg N``)."""

    def __init__(self, palette: np.ndarray, display: int = 0, names: Sequence[str] | None = None):
        window, self.names = f"edgeseg {display}", names
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise SinkError("display:// needs a graphical display (DISPLAY is not set); use file://out.mp4 or null://")
        self.palette, self.window = palette, window
        try:
            cv2.namedWindow(window, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise SinkError("this OpenCV has no GUI support (opencv-python-headless); pip install opencv-python, "
                            "or use file://out.mp4") from None

    captioned = True

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "", caption: str = "") -> None:
        cv2.imshow(self.window, cv2.cvtColor(render(rgb, labels, self.palette, self.names, caption=caption),
                                             cv2.COLOR_RGB2BGR))
        cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyWindow(self.window)


def open_sink(uri: str | None, palette: np.ndarray, fps: float = 0.0, options: VideoOptions | None = None,
              names: Sequence[str] | None = None) -> Sink:
    """Open a sink URI; ``fps`` is the source's rate (0: unknown), ``options`` the flags' settings, ``names``
    the class names for the overlays' legend (None: no legend)."""
    text, opts = split_uri(uri or "null://", options or VideoOptions())
    if text.startswith("null://"):
        return NullSink()
    if text.startswith(("http://", "https://")):  # edgeseg.runtime.pipeline.launch makes it a LiveViewServer attached to the session
        raise UsageError(f"sink {redact_uri(uri)}: a live view is attached to a session, not opened as a sink "
                         "(edgeseg.runtime.pipeline.launch.open_session)")
    if text.startswith("display://"):
        return DisplaySink(palette, opts.display, names)
    if is_stream_out(text):
        return StreamSink(text, palette, fps, options=opts, names=names)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme and scheme.group(1) != "file":  # not a folder named "rtsp:": the user meant a sink we do not have
        raise UsageError(f"sink {redact_uri(uri)}: unknown scheme {scheme.group(1)}://; use a video path ({', '.join(VIDEO_EXTENSIONS)}), "
                         "a folder, file://, display://0, rtsp:// (push to a server), udp://HOST:PORT, rtp://HOST:PORT, "
                         "http://HOST:PORT (live view) or null://")
    path = Path(text.removeprefix("file://"))
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return VideoSink(path, palette, fps, options=opts, names=names)
    if path.suffix and not path.is_dir():  # out.png is one image: a label sink is a folder of them
        raise UsageError(f"sink {redact_uri(uri)}: use a video path ({', '.join(VIDEO_EXTENSIONS)}), a folder for one label PNG per "
                         "frame (e.g. labels/; ?colour=1 for coloured ones), display://0 or null://")
    return LabelFolderSink(path, palette if opts.colour else None)
