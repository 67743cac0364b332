"""What every sink is: ``Sink`` (write per frame, close), ``SinkError``, and ``render``, the overlay picture the
video, display and stream sinks show (colours, legend, caption)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgeseg.errors import EdgesegError
from edgeseg.runtime.io.legend import draw_legend
from edgeseg.runtime.motion import kernels


class SinkError(EdgesegError):
    """A sink cannot be opened or written."""


class Sink:
    """``write(rgb, labels, index, name)`` per frame, ``close()`` at the end. A sink that draws overlays sets
    ``captioned`` and is also handed ``caption=`` (the session's operating point, frame number, keyframe or not)."""

    captioned = False

    def write(self, rgb: np.ndarray, labels: np.ndarray, index: int, name: str = "") -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def render(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, names: Sequence[str] | None, alpha: float = 0.5,
           caption: str = "") -> np.ndarray:
    """The colour overlay of ``labels`` on ``rgb``, with a legend of the classes present when ``names`` are given and
    ``caption`` (operating point, frame, keyframe or not) along the bottom edge."""
    out = kernels.overlay(rgb, labels, palette, alpha)
    out = draw_legend(out, names, palette, labels) if names else out
    return draw_caption(out, caption) if caption else out


def draw_caption(image: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a dark band at the bottom-left of ``image`` (scaled to the frame's height)."""
    h = image.shape[0]
    scale = max(0.35, h / 720)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = max(2, th // 3)
    top = max(0, h - th - base - 2 * pad)
    image[top:, : min(image.shape[1], tw + 2 * pad)] //= 3
    cv2.putText(image, text, (pad, h - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image
