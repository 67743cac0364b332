"""Several streams in one frame: a grid with one place per stream (the one sink or live view of a multi-source run)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mosaic(tiles: list[tuple[np.ndarray, np.ndarray] | None],
           names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) of a grid with one place per stream (ceil(sqrt(N)) columns), each tile scaled to the first
    available one's size; a stream with no frame yet is a black tile, so the grid never changes shape.

    ``names`` (one per tile, e.g. the source URIs): each tile gets its name drawn in its top-right corner (white on
    a dark band, shortened from the left to fit), on the tiles with a frame and the black ones alike; the top-left
    corner stays free for the class legend and the bottom-left for the caption. The labels are not drawn on."""
    import cv2
    if names is not None and len(names) != len(tiles):
        raise ValueError(f"mosaic: {len(names)} names for {len(tiles)} tiles")
    h, w = next(t for t in tiles if t is not None)[0].shape[:2]
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    rgb = np.zeros((rows * h, cols * w, 3), np.uint8)
    labels = np.zeros((rows * h, cols * w), np.uint8)
    for k, tile in enumerate(tiles):
        y, x = (k // cols) * h, (k % cols) * w
        if tile is not None:
            frame, lab = tile
            if frame.shape[:2] != (h, w):
                frame = cv2.resize(frame, (w, h))
                lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
            rgb[y:y + h, x:x + w], labels[y:y + h, x:x + w] = frame, lab
        if names is not None and names[k]:
            draw_name(rgb[y:y + h, x:x + w], str(names[k]))
    return rgb, labels


def draw_name(tile: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a dark band in the top-right corner of ``tile`` (a view: drawn in place), scaled to the
    tile's height and shortened from the left ("...tail") to fit its width."""
    import cv2
    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = tile.shape[:2]
    scale = max(0.3, h / 900)
    thickness = 1 if scale < 0.8 else 2
    pad = max(2, int(6 * scale))
    shown = text
    while len(shown) > 1 and cv2.getTextSize(shown, font, scale, thickness)[0][0] + 2 * pad > w:
        shown = "..." + shown[4:] if shown.startswith("...") else "..." + shown[1:]
        if shown == "...":
            break
    (tw, th), base = cv2.getTextSize(shown, font, scale, thickness)
    left = max(0, w - tw - 2 * pad)
    bottom = min(h, th + base + 2 * pad)
    tile[:bottom, left:] //= 3
    cv2.putText(tile, shown, (left + pad, pad + th), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return tile
