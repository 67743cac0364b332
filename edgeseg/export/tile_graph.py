"""The refiner's tile graph (``refiner_tiles``): the same module exported at a fixed tile size, and a check that
its tiles' cores equal the full-frame refiner's output (``edgeseg.runtime.pipeline.tiles``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.graphs import GraphSpec
from edgeseg.runtime.fusion import refiner
from edgeseg.runtime.pipeline import tiles

CORE = 64  # default core side (network pixels); the tile adds the refiner's context on each side
MISMATCH = 1e-4  # largest |tile - full frame| logit accepted (float rounding only)


def parse_tiles(text: str | None) -> tuple[int, int, int] | None:
    """``--refiner-tiles``: auto (None: the default size) | none | HxW[xB] (B: tiles per graph run, default 1)."""
    text = None if text is None else str(text).strip().lower()
    if text is None or text == "auto":
        return None
    if text == "none":
        return (0, 0, 0)
    parts = text.split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or min(values) < 1:
        raise UsageError(f"--refiner-tiles {text!r}: expected auto, none or HxW[xB] (e.g. 112x112 or 112x112x4)")
    return values[0], values[1], values[2] if len(values) == 3 else 1


def tile_grid(module: torch.nn.Module, net: tuple[int, int], wanted: tuple[int, int, int] | None) -> tiles.TileGrid | None:
    """The tile geometry for ``module`` on a ``net`` input: ``wanted`` (H, W, batch), or the default core + the
    module's context; None when tiles are off or the input cannot hold one (a one-line note says why)."""
    if wanted == (0, 0, 0):
        return None
    context = int(getattr(module, "context", 0))
    if not context:
        print("note: this refiner does not declare its context; no tile graph (refinement on the full frame only)")
        return None
    size = (wanted[0], wanted[1]) if wanted else (CORE + 2 * context, CORE + 2 * context)
    try:
        return tiles.TileGrid(net, size, context, wanted[2] if wanted else 1)
    except ValueError as e:
        if wanted:
            raise UsageError(f"--refiner-tiles: {e}") from None
        print(f"note: no tile graph ({e}); refinement on the full frame only")
        return None


def tile_spec(module: torch.nn.Module, input_names: list[str]) -> GraphSpec:
    return GraphSpec(tiles.GRAPH, "refiner", module, input_names, ["logits"])


def every_tile(grid: tiles.TileGrid) -> list[tiles.Tile]:
    """The tiles that cover the whole frame."""
    h, w = grid.net[0] // tiles.OUT_STRIDE, grid.net[1] // tiles.OUT_STRIDE
    return grid.plan(np.ones((h, w), bool))


def tile_feeds(feeds: list[dict[str, np.ndarray]], grid: tiles.TileGrid) -> list[dict[str, np.ndarray]]:
    """One batch of tiles per full-frame refiner feed, taken in turn from every part of the frame."""
    everywhere = every_tile(grid)
    out = []
    for n, feed in enumerate(feeds):
        picks = [everywhere[(n * grid.batch + k) * 7 % len(everywhere)] for k in range(grid.batch)]
        out.append(tiles.crop_feed(feed, picks, grid))
    return out


@torch.no_grad()
def tile_mismatch(module: torch.nn.Module, feed: dict[str, np.ndarray], grid: tiles.TileGrid) -> float:
    """Largest |difference| between the full-frame logits and the tiles' cores that cover the frame."""
    names = [n for n in refiner.SPEC.input_names(module) if n in feed]
    full = module(*[torch.from_numpy(feed[n]) for n in names]).numpy()[0]
    pasted = np.full_like(full, np.nan)
    everywhere = every_tile(grid)
    for start in range(0, len(everywhere), grid.batch):
        picked = everywhere[start:start + grid.batch]
        cropped = tiles.crop_feed(feed, picked, grid)
        logits = module(*[torch.from_numpy(cropped[n]) for n in names]).numpy()
        tiles.paste(pasted, logits[:len(picked)], picked)
    return float(np.abs(pasted - full).max())


def check_tiles(module: torch.nn.Module, feed: dict[str, Any], grid: tiles.TileGrid) -> None:
    """Refuse a tile graph whose cores differ from full-frame refinement (a context declared too small)."""
    worst = tile_mismatch(module, feed, grid)
    if not worst <= MISMATCH:
        raise EdgesegError(f"refiner tiles differ from full-frame refinement by up to {worst:.3g} (context "
                           f"{grid.context} px too small?); export with --refiner-tiles none")


def add_tile_spec(specs: list[GraphSpec], net: tuple[int, int], wanted: str | None) -> tiles.TileGrid | None:
    """Append the tile graph's spec to ``specs`` when they hold a refiner that can be tiled; its grid, else None."""
    spec = next((s for s in specs if s.key == "refiner"), None)
    grid = tile_grid(spec.module, net, parse_tiles(wanted)) if spec is not None else None
    if spec is not None and grid is not None:
        specs.append(tile_spec(spec.module, spec.input_names))
    return grid


def add_tile_feeds(grid: tiles.TileGrid | None, specs: list[GraphSpec], *feed_sets: dict[str, list[dict[str, np.ndarray]]]
                   ) -> None:
    """Check the tiles against the full frame on the first parity feed, then give the tile graph its feeds: the
    refiner's, cut into tiles (``feed_sets``: parity, then calibration; empty ones are left alone)."""
    if grid is None:
        return
    module = next(s.module for s in specs if s.key == "refiner")
    parity = feed_sets[0]
    if parity.get("refiner"):
        check_tiles(module, parity["refiner"][0], grid)
    for feeds in feed_sets:
        if feeds.get("refiner"):
            feeds[tiles.GRAPH] = tile_feeds(feeds["refiner"], grid)


def mark_tile_graph(graphs: dict[str, Any], grid: tiles.TileGrid | None) -> None:
    """Record the tile graph's context in its manifest entry."""
    if grid is not None and tiles.GRAPH in graphs:
        graphs[tiles.GRAPH] = replace(graphs[tiles.GRAPH], tile_context=grid.context)
