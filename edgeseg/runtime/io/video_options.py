"""Source and sink settings in one object, in the spirit of jetson-utils' videoOptions. Torch-free.

URIs and command-line flags fill it: flags give the defaults, a URI's query overrides them for that
source or sink, e.g. ``csi://0?width=1920&height=1080&rate=30``, ``rtsp://cam/stream?latency=2000``,
``out.mp4?codec=avc1&rate=25``, ``display://1``. Zero means "the device's or the stream's own".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from urllib.parse import parse_qsl, urlencode

from edgeseg.errors import UsageError

# What a Jetson CSI camera is asked for when no size or rate is given (a mode every IMX219/IMX477 has).
CSI_MODE = {"width": 1280, "height": 720, "rate": 30.0}


@dataclass(frozen=True)
class VideoOptions:
    width: int = 0  # frame width asked of a camera, or written to a video (0: the device's / the frames' own)
    height: int = 0
    rate: float = 0.0  # frames per second asked of a camera, or of a written video (0: the source's own)
    fallback_rate: float = 15.0  # rate of a written video when the source reports none (image folders)
    latency: int = 5000  # ms a network stream may take to open or to deliver a frame before it counts as a timeout
    codec: str = ""  # FOURCC of a written video ("": mp4v for .mp4/.m4v/.mov, MJPG otherwise)
    display: int = 0  # display://N: which window (and screen, where the window manager places it there)
    colour: int = 0  # a label folder: 1 writes each class in its palette colour (to look at) instead of class ids

    def output_rate(self, source_rate: float) -> float:
        """The frame rate a written video gets: asked for, else the source's, else the fallback."""
        return self.rate or source_rate or self.fallback_rate

    def with_query(self, query: str, where: str, keep_unknown: bool = False) -> tuple[VideoOptions, str]:
        """(these options with a URI query's known ``key=value`` pairs applied, the query left over).

        Unknown keys are a UsageError, unless ``keep_unknown`` (network streams: their own query stays in the URL).
        """
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, object] = {}
        rest = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key not in known:
                if not keep_unknown:
                    raise UsageError(f"{where}: unknown option {key!r}; known: {', '.join(known)}")
                rest.append((key, value))
                continue
            kind = {"int": int, "float": float}.get(str(known[key]), str)
            try:
                changes[key] = kind(value)
            except ValueError:
                raise UsageError(f"{where}: option {key}={value!r} must be a number") from None
            if kind is not str and changes[key] < 0:  # type: ignore[operator]
                raise UsageError(f"{where}: option {key}={value!r} must be >= 0")
        return replace(self, **changes), urlencode(rest)  # type: ignore[arg-type]


NETWORK = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


def split_uri(uri: str, base: VideoOptions) -> tuple[str, VideoOptions]:
    """``scheme://target?options`` -> (``scheme://target``, options). ``display://N`` sets ``display`` to N.

    URIs with a scheme carry options, and so does a plain video path (``out.mp4?codec=mp4v``) unless a file of that
    whole name exists; any other plain path keeps a ``?`` in its name, GStreamer pipelines (``gst://``) are passed
    through whole, and a network stream keeps the query keys that are not ours.
    """
    text = str(uri).strip()
    target, opts = text, base
    plain_video = ("://" not in text and "?" in text and not os.path.exists(text)
                   and os.path.splitext(text.split("?", 1)[0])[1].lower() in VIDEO_EXTENSIONS)
    if plain_video or ("://" in text and not text.startswith("gst://") and "?" in text):
        target, query = text.split("?", 1)
        opts, rest = base.with_query(query, text, keep_unknown=text.startswith(NETWORK))
        target = f"{target}?{rest}" if rest else target
    if target.startswith("display://"):
        index = target[len("display://"):] or "0"
        if not index.isdigit():
            raise UsageError(f"{uri}: display://N takes a display index, e.g. display://0")
        opts = replace(opts, display=int(index))
    return target, opts
