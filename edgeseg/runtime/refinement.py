"""The refiner's probabilities for a propagated frame (EVS eq. 4's P_refiner), on the full frame or on tiles that
cover the IAM mask (``edgeseg.runtime.tiles``). Torch-free."""

from __future__ import annotations

import numpy as np

from edgeseg.runtime import tiles
from edgeseg.runtime.engine import Engine
from edgeseg.runtime.fusion import refiner


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the first axis (classes), float32."""
    e = np.exp(scores - scores.max(0, keepdims=True))
    return (e / e.sum(0, keepdims=True)).astype(np.float32)


class Refinement:
    """Runs the refiner graph on the full frame, or its tile graph on the tiles over the mask when they hold at
    most ``budget`` of the full frame's pixels (0: never; ``tiled``/``grid`` None: a bundle without tiles)."""

    def __init__(self, full: Engine, tiled: Engine | None = None, grid: tiles.TileGrid | None = None,
                 budget: float = tiles.DEFAULT_BUDGET):
        self.full, self.tiled, self.grid, self.budget = full, tiled, grid, budget

    def plan(self, mask: np.ndarray) -> list[tiles.Tile]:
        """The tiles to refine for a soft mask at the frame's resolution; [] means the full frame."""
        if self.tiled is None or self.grid is None or self.budget <= 0:
            return []
        planned = self.grid.plan(self.grid.cells(mask))
        return planned if self.grid.area_ratio(len(planned)) <= self.budget else []

    def probs(self, image: np.ndarray, probs: np.ndarray, feats: np.ndarray | None, planned: list[tiles.Tile]
              ) -> np.ndarray:
        """Refined probabilities (L x h/4 x w/4): everywhere (``planned`` empty), or inside the tiles' cores with
        the warped ones elsewhere (the blend reads only the cores there: they cover the mask)."""
        if not planned:
            return softmax(self.full.infer(refiner.feed(image, feats, probs))["logits"][0])
        assert self.tiled is not None and self.grid is not None
        grid, out = self.grid, probs.copy()
        for start in range(0, len(planned), grid.batch):
            batch = planned[start:start + grid.batch]
            feed = {"image": tiles.crop(image[0], batch, grid.size, 1, grid.batch),
                    "warped_probs": tiles.crop(probs, batch, grid.size, tiles.OUT_STRIDE, grid.batch)}
            if feats is not None:
                feed["warped_feats"] = tiles.crop(feats, batch, grid.size, tiles.FEAT_STRIDE, grid.batch)
            logits = self.tiled.infer(feed)["logits"]
            tiles.paste(out, np.stack([softmax(x) for x in logits[:len(batch)]]), batch)
        return out
