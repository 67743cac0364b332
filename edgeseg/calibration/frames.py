"""RGB frames from a folder of images or a video file (the calibration / parity sources)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from edgeseg.data.folders import list_images, read_rgb
from edgeseg.errors import UsageError


def read_frames(source: str | Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """Yield up to ``limit`` RGB uint8 frames from an image folder or a video file (``file://`` allowed)."""
    text = str(source)
    path = Path(text[len("file://"):] if text.startswith("file://") else text)
    if path.is_dir():
        for i, p in enumerate(list_images(path)):
            if limit is not None and i >= limit:
                return
            yield read_rgb(p)
        return
    if not path.is_file():
        raise UsageError(f"frame source {source} does not exist; pass an image folder or a video file")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UsageError(f"cannot open video {path}; is it a video file OpenCV can decode?")
    try:
        n = 0
        while limit is None or n < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            n += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if n == 0:
            raise UsageError(f"no frame could be decoded from {path}")
    finally:
        cap.release()
