"""Refinement by tiles: the refiner runs on fixed-size tiles that cover the IAM mask, so its cost follows the
mask's area. Torch-free.

A tile is ``size`` (h, w) network pixels (fixed, so ONNX / TensorRT graphs stay static) and its outer
``context`` pixels on each side are margin: the refiner's receptive field, so the core inside equals full-frame
refinement there. Cores lie on a grid of ``size - 2 * context``; a tile is shifted inwards at the frame's
border, where the frame edge is the tile edge (both see the same zero padding), so the margin is not needed
there. Offsets stay multiples of the refiner's stride (8), so the tile's convolutions see the frame's pixel grid.

The refiner's outputs are 1/4 of the network input; the IAM mask is at the frame's resolution and the blend
reads, for each mask pixel, the 1/4 pixel nearest to it (``reference.blend_argmax``). ``cells`` gives those 1/4
pixels (or a few more), and the tiles' cores cover every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgeseg.bundle import Bundle, BundleError

GRAPH = "refiner_tiles"  # the tile graph's manifest key (role "refiner")
ALIGN = 8  # the refiner's coarsest stride: tile offsets are multiples of it
OUT_STRIDE = 4  # refiner logits (and the warped probabilities) are at 1/4 of the network input
FEAT_STRIDE = 8  # the warped features are at 1/8


@dataclass(frozen=True)
class Tile:
    """One tile: its top-left corner in network pixels, and the core (rows, cols, network pixels) it stands for."""

    y: int
    x: int
    core: tuple[slice, slice]


@dataclass(frozen=True)
class TileGrid:
    """Fixed tiles over a network input of ``net`` (H, W): tiles of ``size`` (h, w) with ``context`` pixels of
    margin, run ``batch`` at a time (the tile graph's static batch)."""

    net: tuple[int, int]
    size: tuple[int, int]
    context: int
    batch: int = 1

    def __post_init__(self) -> None:
        (H, W), (th, tw), m = self.net, self.size, self.context
        if any(v % ALIGN for v in (H, W, th, tw, m)):
            raise ValueError(f"tiles need multiples of {ALIGN}: network {H}x{W}, tile {th}x{tw}, context {m}")
        if th > H or tw > W or min(th, tw) <= 2 * m:
            raise ValueError(f"a {th}x{tw} tile with {m} px of context does not fit a {H}x{W} input or has no core")

    @property
    def core(self) -> tuple[int, int]:
        return self.size[0] - 2 * self.context, self.size[1] - 2 * self.context

    def cells(self, mask: np.ndarray) -> np.ndarray:
        """The 1/4 output pixels (bool h/4 x w/4) that a blend with ``mask`` (frame resolution, >= 0) reads: those
        nearest to a pixel where the mask is > 0, or a few more.

        When the frame is at least the 1/4 map's size, OpenCV's area resize does it in 0.05 ms: an output pixel's
        area covers every input pixel whose centre lies in it (more than half a pixel, far above the 1e-3 below
        which OpenCV drops a weight), so it is > 0 wherever one of them is. That is exact for whole ratios and
        adds neighbours for others. A smaller frame takes the exact owner groups (0.5 ms).
        """
        h, w = self.net[0] // OUT_STRIDE, self.net[1] // OUT_STRIDE
        if mask.shape[0] >= h and mask.shape[1] >= w:
            return cv2.resize(np.asarray(mask, np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
        on = (mask > 0).astype(np.uint8)
        rows = _nearest_groups(on.shape[0], h)
        cols = _nearest_groups(on.shape[1], w)
        by_rows = np.maximum.reduceat(on, rows, axis=0) if rows is not None else on
        return (np.maximum.reduceat(by_rows, cols, axis=1) if cols is not None else by_rows).astype(bool)

    def plan(self, cells: np.ndarray) -> list[Tile]:
        """The tiles whose cores cover every set cell (bool h/4 x w/4), in row-major order."""
        (H, W), (th, tw), m = self.net, self.size, self.context
        ch, cw = self.core
        rows = _grid_hits(cells.any(axis=1), ch // OUT_STRIDE)
        tiles = []
        for gy in rows:
            band = cells[gy * ch // OUT_STRIDE:(gy + 1) * ch // OUT_STRIDE]
            for gx in _grid_hits(band.any(axis=0), cw // OUT_STRIDE):
                y0, x0 = gy * ch, gx * cw
                core = (slice(y0, min(y0 + ch, H)), slice(x0, min(x0 + cw, W)))
                tiles.append(Tile(min(max(y0 - m, 0), H - th), min(max(x0 - m, 0), W - tw), core))
        return tiles

    def batches(self, tiles: int) -> int:
        return -(-tiles // self.batch)

    def area_ratio(self, tiles: int) -> float:
        """Pixels the tiles' batches run (padding included) over the full frame's: the cost ratio of the two."""
        return self.batches(tiles) * self.batch * self.size[0] * self.size[1] / (self.net[0] * self.net[1])


def _nearest_groups(n_in: int, n_out: int) -> np.ndarray | None:
    """Start index, for each output pixel, of the input pixels whose nearest output pixel it is
    (floor((i + 0.5) * n_out / n_in)); None when the sizes are equal."""
    if n_in == n_out:
        return None
    owner = np.minimum(np.floor((np.arange(n_in) + 0.5) / (n_in / n_out)).astype(np.int64), n_out - 1)
    starts = np.searchsorted(owner, np.arange(n_out))
    if n_in < n_out:  # enlarging: some outputs own no input pixel; give them an empty group's neighbour
        starts = np.minimum(starts, n_in - 1)
    return starts


def _grid_hits(any_set: np.ndarray, step: int) -> list[int]:
    """Indices of the grid cells of ``step`` elements along one axis that hold a set element."""
    idx = np.flatnonzero(any_set)
    return sorted(set((idx // step).tolist()))


def crop(maps: np.ndarray, tiles: list[Tile], size: tuple[int, int], stride: int, batch: int) -> np.ndarray:
    """The tiles' windows of ``maps`` (C x h x w at 1/``stride`` of the network input) as a batch padded to a
    multiple of ``batch`` with zeros (N x C x size/stride)."""
    th, tw = size[0] // stride, size[1] // stride
    n = -(-len(tiles) // batch) * batch
    out = np.zeros((n, maps.shape[0], th, tw), np.float32)
    for i, t in enumerate(tiles):
        y, x = t.y // stride, t.x // stride
        out[i] = maps[:, y:y + th, x:x + tw]
    return out


# the refiner graph's inputs and their stride against the network input
STRIDES = {"image": 1, "warped_feats": FEAT_STRIDE, "warped_probs": OUT_STRIDE}


def crop_feed(feed: dict[str, np.ndarray], picked: list[Tile], grid: TileGrid) -> dict[str, np.ndarray]:
    """A full-frame refiner feed (batch of 1) cut into the tile graph's inputs for ``picked`` (one batch)."""
    return {k: crop(v[0], picked, grid.size, STRIDES[k], grid.batch) for k, v in feed.items()}


def paste(into: np.ndarray, outputs: np.ndarray, tiles: list[Tile]) -> None:
    """Write each tile's core of ``outputs`` (N x L x tile/4) into ``into`` (L x h/4 x w/4), in place."""
    s = OUT_STRIDE
    for t, out in zip(tiles, outputs):
        ys, xs = t.core
        into[:, ys.start // s:ys.stop // s, xs.start // s:xs.stop // s] = \
            out[:, (ys.start - t.y) // s:(ys.stop - t.y) // s, (xs.start - t.x) // s:(xs.stop - t.x) // s]



def grid_of(bundle: Bundle) -> TileGrid | None:
    """The bundle's tile geometry, None when it has no tile graph (bundles exported before tiles existed)."""
    entry = bundle.graphs.get(GRAPH)
    if entry is None:
        return None
    shape = entry.shapes.get("image", ())
    if entry.tile_context is None or len(shape) != 4 or not all(isinstance(v, int) for v in shape):
        raise BundleError(f"{bundle.root}: graph {GRAPH} needs tile_context and a static image input, got {shape}")
    try:
        return TileGrid(tuple(bundle.manifest.input.size), (shape[2], shape[3]), entry.tile_context, shape[0])
    except ValueError as e:
        raise BundleError(f"{bundle.root}: graph {GRAPH}: {e}; re-export the bundle") from None
