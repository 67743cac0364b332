"""The class-colour legend on overlays: one swatch per class present, and video sinks draw it unless told not to."""

import numpy as np

from edgeseg.runtime.io.legend import draw_legend
from edgeseg.runtime.io.sinks import render

NAMES = ["Sky", "Building", "Road", "Car"]
PALETTE = np.array([[128, 128, 128], [128, 0, 0], [128, 64, 128], [64, 0, 128]], np.uint8)


def _has_colour(img, rgb):
    return bool((img == np.array(rgb, np.uint8)).all(-1).any())


def test_only_the_classes_present_are_listed():
    labels = np.zeros((240, 320), np.uint8)
    labels[100:, :] = 2  # Sky and Road present
    out = draw_legend(np.zeros((240, 320, 3), np.uint8), NAMES, PALETTE, labels)
    assert _has_colour(out, PALETTE[0]) and _has_colour(out, PALETTE[2])
    assert not _has_colour(out, PALETTE[1]) and not _has_colour(out, PALETTE[3])
    assert out[:, 160:].max() == 0  # the legend stays in the left part of the frame


def test_render_with_and_without_names():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, (120, 160), dtype=np.uint8)
    plain, legend = render(rgb, labels, PALETTE, None), render(rgb, labels, PALETTE, NAMES)
    assert (plain[60:] == legend[60:]).all()  # the overlay itself is the same
    assert (plain[:40, :60] != legend[:40, :60]).any()  # the legend is drawn in the corner
