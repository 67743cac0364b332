"""A class-colour legend drawn onto overlay frames (video sinks, the display): a swatch and a name per class."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_legend(rgb: np.ndarray, names: Sequence[str], palette: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """``rgb`` (HxWx3 uint8, drawn on in place and returned) with a legend in its top-left corner.

    With ``labels`` only the classes present in them are listed, so the legend stays short on small frames.
    Text scales with the frame height; rows that do not fit are left out.
    """
    ids = range(len(names)) if labels is None else [int(i) for i in np.unique(labels) if int(i) < len(names)]
    scale = max(0.3, rgb.shape[0] / 900)
    row = int(22 * scale / 0.6)
    swatch = max(6, row - 6)
    thickness = 1 if scale < 0.8 else 2
    y = 4
    for i in ids:
        if y + row > rgb.shape[0]:
            break
        width = cv2.getTextSize(names[i], FONT, scale, thickness)[0][0]
        cv2.rectangle(rgb, (2, y), (swatch + width + 14, y + row - 1), (0, 0, 0), -1)  # a dark band behind the text
        cv2.rectangle(rgb, (6, y + 3), (6 + swatch, y + 3 + swatch), tuple(int(c) for c in palette[i]), -1)
        cv2.putText(rgb, names[i], (swatch + 10, y + row - 6), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        y += row
    return rgb
