"""The class-colour legend on overlays: one swatch per class present, and video sinks draw it unless told not to."""

import numpy as np
import pytest

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


CAMVID_NAMES = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist"]
NO_GRAY = np.array([[200, 30 + 10 * i, 60] for i in range(11)], np.uint8)  # text is grey (r = g = b); swatches are not


def _rows_of_each_entry(out, names, palette):
    """(swatch rows, text rows) of every legend entry drawn on ``out``."""
    from edgeseg.runtime.io.legend import legend_metrics
    m = legend_metrics(out.shape[0])
    text = (out[..., 0] == out[..., 1]) & (out[..., 1] == out[..., 2]) & (out[..., 0] > 0)
    text[:, :6 + int(m["swatch"]) + 4] = False  # right of the swatch only
    entries = []
    for i in range(len(names)):
        swatch = np.flatnonzero((out == palette[i]).all(-1).any(1))
        if swatch.size == 0:
            break  # did not fit
        rows = np.flatnonzero(text[swatch.min() - int(m["pad"]):swatch.max() + int(m["pad"]) + 1].any(1))
        entries.append((swatch, rows + swatch.min() - int(m["pad"])))
    return entries


def test_text_lies_on_its_swatch_rows_on_640x272_frames():
    # issue 30: on 640x272 frames the text sat half a row above its swatch
    out = draw_legend(np.zeros((272, 640, 3), np.uint8), CAMVID_NAMES, NO_GRAY)
    entries = _rows_of_each_entry(out, CAMVID_NAMES, NO_GRAY)
    assert len(entries) == len(CAMVID_NAMES)  # every class fits on 272 rows
    for name, (swatch, text) in zip(CAMVID_NAMES, entries):
        assert text.size > 0, name
        assert swatch.min() <= text.min() and text.max() <= swatch.max(), (name, swatch.min(), swatch.max(), text.min(), text.max())
        assert abs((text.min() + text.max()) - (swatch.min() + swatch.max())) <= 6, name  # and roughly centred on it


@pytest.mark.parametrize("size", [(120, 160), (360, 480), (540, 960), (720, 1280), (1080, 1920)])
def test_text_lies_on_its_swatch_rows_at_other_sizes(size):
    out = draw_legend(np.zeros((*size, 3), np.uint8), CAMVID_NAMES, NO_GRAY)
    entries = _rows_of_each_entry(out, CAMVID_NAMES, NO_GRAY)
    assert entries
    for name, (swatch, text) in zip(CAMVID_NAMES, entries):
        assert text.size > 0 and swatch.min() <= text.min() and text.max() <= swatch.max(), (size, name)
