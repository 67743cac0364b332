"""A class-colour legend drawn onto overlay frames (video sinks, the display): a swatch and a name per class."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
GLYPHS = "ABSbdfghjklpqyl|"  # capitals, ascenders and descenders: the tallest span any class name can reach


@lru_cache(maxsize=32)
def glyph_span(scale: float, thickness: int) -> tuple[int, int]:
    """(above, below): how many pixel rows text drawn by putText reaches above its baseline (the origin's row
    excluded) and below it (included), measured by drawing ``GLYPHS`` anti-aliased. getTextSize's box is larger
    than what is drawn, and not centred on it."""
    (w, h), base = cv2.getTextSize(GLYPHS, FONT, scale, thickness)
    origin = h + 4
    scratch = np.zeros((h + base + 8, w + 8), np.uint8)
    cv2.putText(scratch, GLYPHS, (2, origin), FONT, scale, 255, thickness, cv2.LINE_AA)
    rows = np.flatnonzero(scratch.any(1))
    return origin - int(rows[0]), int(rows[-1]) - origin + 1


def legend_metrics(height: int) -> dict[str, float | int]:
    """Sizes of a legend row on a frame ``height`` pixels high: font ``scale`` and ``thickness``, the drawn text's
    rows ``above`` and ``below`` its baseline (``glyph_span``), the square ``swatch`` (the text's rows plus one on
    each side), ``pad`` around it and the ``row`` pitch."""
    scale = max(0.3, height / 900)
    thickness = 1 if scale < 0.8 else 2
    above, below = glyph_span(scale, thickness)
    swatch = max(6, above + below + 2)
    pad = max(1, swatch // 8)
    return {"scale": scale, "thickness": thickness, "above": above, "below": below, "swatch": swatch, "pad": pad,
            "row": swatch + 2 * pad}


def draw_legend(rgb: np.ndarray, names: Sequence[str], palette: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` (HxWx3 uint8, drawn on in place and returned) with a legend in its top-left corner.

    With ``labels`` only the classes present in them are listed, so the legend stays short on small frames.
    Text scales with the frame height and lies on its swatch's rows (the swatch spans every row the text is drawn
    on, centred); rows that do not fit are left out.
    """
    ids = range(len(names)) if labels is None else [int(i) for i in np.unique(labels) if int(i) < len(names)]
    m = legend_metrics(rgb.shape[0])
    scale, thickness = float(m["scale"]), int(m["thickness"])
    swatch, pad, row, above, below = (int(m[k]) for k in ("swatch", "pad", "row", "above", "below"))
    text_x = 6 + swatch + 4
    y = 4
    for i in ids:
        if y + row > rgb.shape[0]:
            break
        width = cv2.getTextSize(names[i], FONT, scale, thickness)[0][0]
        cv2.rectangle(rgb, (2, y), (text_x + width + 4, y + row - 1), (0, 0, 0), -1)  # a dark band behind the text
        top = y + pad
        cv2.rectangle(rgb, (6, top), (6 + swatch - 1, top + swatch - 1), tuple(int(c) for c in palette[i]), -1)
        # putText's origin is the baseline; the text's rows (above + below of them) are centred on the swatch's
        baseline = top + (swatch - above - below) // 2 + above
        cv2.putText(rgb, names[i], (text_x, baseline), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        y += row
    return rgb
