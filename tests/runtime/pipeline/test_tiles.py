"""The tile planner: the cores cover every 1/4 pixel the blend reads, lie inside their tiles' margins and the
network input, and tiles sit on the refiner's 8-pixel grid."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseg.runtime.pipeline.tiles import ALIGN, OUT_STRIDE, TileGrid, crop, paste


def read_cells(mask, h, w):
    """The 1/4 pixels ``reference.blend_argmax`` reads: the nearest one to each pixel where the mask is set."""
    H, W = mask.shape
    ry = np.minimum(np.floor((np.arange(H) + 0.5) / (H / h)).astype(np.int64), h - 1)
    rx = np.minimum(np.floor((np.arange(W) + 0.5) / (W / w)).astype(np.int64), w - 1)
    out = np.zeros((h, w), bool)
    ys, xs = np.nonzero(mask > 0)
    out[ry[ys], rx[xs]] = True
    return out


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31), gh=st.integers(4, 12), gw=st.integers(4, 12), context=st.sampled_from([8, 16, 24]),
       core=st.sampled_from([8, 16, 32]), frame_scale=st.sampled_from([0.15, 0.2, 0.5, 0.75, 1.0, 1.5, 2.25]),
       density=st.floats(0.0, 0.05))
def test_cores_cover_every_cell_the_blend_reads(seed, gh, gw, context, core, frame_scale, density):
    rng = np.random.default_rng(seed)
    net = (gh * ALIGN * 2, gw * ALIGN * 2)
    size = (core + 2 * context,) * 2
    if size[0] > min(net):
        return
    grid = TileGrid(net, size, context)
    frame = (max(1, int(net[0] * frame_scale)), max(1, int(net[1] * frame_scale)))
    mask = (rng.random(frame) < density).astype(np.float32)
    cells = grid.cells(mask)
    h, w = net[0] // OUT_STRIDE, net[1] // OUT_STRIDE
    assert cells.shape == (h, w)
    exact = read_cells(mask, h, w)
    assert not (exact & ~cells).any()  # every cell read is planned for
    covered = np.zeros((h, w), int)
    for t in grid.plan(cells):
        ys, xs = t.core
        assert t.y % ALIGN == 0 and t.x % ALIGN == 0
        assert 0 <= t.y <= net[0] - size[0] and 0 <= t.x <= net[1] - size[1]
        # the core keeps the context margin inside the tile, except where the tile edge is the frame edge
        assert ys.start >= t.y + (context if t.y > 0 else 0) and xs.start >= t.x + (context if t.x > 0 else 0)
        assert ys.stop <= t.y + size[0] - (context if t.y + size[0] < net[0] else 0)
        assert xs.stop <= t.x + size[1] - (context if t.x + size[1] < net[1] else 0)
        covered[ys.start // 4:ys.stop // 4, xs.start // 4:xs.stop // 4] += 1
    assert (covered <= 1).all()  # cores do not overlap
    assert (covered[cells] == 1).all()


def test_an_empty_mask_plans_no_tile_and_a_full_one_covers_the_frame():
    grid = TileGrid((96, 128), (48, 48), 8, batch=3)
    assert grid.plan(grid.cells(np.zeros((72, 96), np.float32))) == []
    every = grid.plan(grid.cells(np.ones((72, 96), np.float32)))
    assert len(every) == 3 * 4
    assert grid.area_ratio(len(every)) == pytest.approx(12 * 48 * 48 / (96 * 128))
    assert grid.area_ratio(1) == pytest.approx(3 * 48 * 48 / (96 * 128))  # a run is a whole batch


def test_crop_and_paste_round_trip_the_cores():
    grid = TileGrid((64, 96), (32, 32), 8, batch=2)
    maps = np.random.default_rng(0).standard_normal((5, 16, 24)).astype(np.float32)
    planned = grid.plan(np.ones((16, 24), bool))
    batch = crop(maps, planned, grid.size, OUT_STRIDE, grid.batch)
    assert batch.shape == (len(planned) + len(planned) % 2, 5, 8, 8)
    out = np.zeros_like(maps)
    paste(out, batch, planned)
    np.testing.assert_array_equal(out, maps)


@pytest.mark.parametrize("net,size,context", [((60, 96), (32, 32), 8), ((64, 96), (32, 32), 16), ((64, 96), (72, 32), 8),
                                              ((64, 96), (32, 30), 8)])
def test_bad_geometry_is_refused(net, size, context):
    with pytest.raises(ValueError):
        TileGrid(net, size, context)
