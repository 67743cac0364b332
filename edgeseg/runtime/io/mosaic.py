"""Several streams in one frame: a grid with one place per stream (the one sink or live view of a multi-source run)."""

from __future__ import annotations

import math

import numpy as np


def mosaic(tiles: list[tuple[np.ndarray, np.ndarray] | None]) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) of a grid with one place per stream (ceil(sqrt(N)) columns), each tile scaled to the first
    available one's size; a stream with no frame yet is a black tile, so the grid never changes shape."""
    import cv2
    h, w = next(t for t in tiles if t is not None)[0].shape[:2]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    rgb = np.zeros((rows * h, cols * w, 3), np.uint8)
    labels = np.zeros((rows * h, cols * w), np.uint8)
    for k, tile in enumerate(tiles):
        if tile is None:
            continue
        frame, lab = tile
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h))
            lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
        y, x = (k // cols) * h, (k % cols) * w
        rgb[y:y + h, x:x + w], labels[y:y + h, x:x + w] = frame, lab
    return rgb, labels
