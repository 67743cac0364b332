"""The mosaic of several streams: one tile per stream, and (issue 30) each tile's source name in its corner."""

import numpy as np
import pytest

from edgeseg.runtime.io.mosaic import mosaic

H, W = 272, 640


def _tiles(n, missing=()):
    rng = np.random.default_rng(0)
    return [None if k in missing else (np.full((H, W, 3), 60 + 40 * k, np.uint8), rng.integers(0, 11, (H, W), dtype=np.uint8))
            for k in range(n)]


def test_without_names_the_grid_is_as_before():
    tiles = _tiles(3, missing={2})
    rgb, labels = mosaic(tiles)
    assert rgb.shape == (2 * H, 2 * W, 3) and labels.shape == (2 * H, 2 * W)
    assert (rgb[:H, :W] == tiles[0][0]).all() and (rgb[:H, W:] == tiles[1][0]).all() and rgb[H:].max() == 0
    assert (labels[:H, W:] == tiles[1][1]).all()


def test_each_tile_gets_its_name_in_its_top_right_corner():
    tiles = _tiles(4, missing={3})
    names = ["/dev/video0", "rtsp://cam/live", "clip.mp4", "csi://0"]
    plain, _ = mosaic(tiles)
    named, labels = mosaic(tiles, names=names)
    assert (labels == mosaic(tiles)[1]).all()  # names are drawn on the picture only
    for k in range(4):
        y, x = (k // 2) * H, (k % 2) * W
        diff = (named[y:y + H, x:x + W] != plain[y:y + H, x:x + W]).any(-1)
        rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
        assert rows.size, names[k]  # drawn on every tile, the black one of a stream without a frame too
        assert rows.max() < H // 6 and cols.min() > W // 2 and cols.max() >= W - 10, names[k]  # the top-right corner
        white = (named[y:y + H, x:x + W] > 200).all(-1) & diff
        assert white.any(), names[k]  # white text on the dark band


def test_a_name_too_long_for_its_tile_is_shortened_to_fit():
    tiles = [(np.zeros((64, 96, 3), np.uint8), np.zeros((64, 96), np.uint8))] * 2
    named, _ = mosaic(tiles, names=["rtsp://a-very-long-host-name.example/with/a/long/path/stream1", "b"])
    diff = (named[:64, :96] != 0).any(-1)
    assert diff.any() and np.flatnonzero(diff.any(0)).min() >= 0  # stays inside its own tile
    assert (named[:64, 96:] != 0).any(-1)[:, :60].sum() == 0  # nothing spilled into the next tile's left part


def test_names_must_match_the_tiles():
    with pytest.raises(ValueError, match="2 names for 3 tiles"):
        mosaic(_tiles(3), names=["a", "b"])
