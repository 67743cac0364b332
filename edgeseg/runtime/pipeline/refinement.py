"""The refiner's probabilities for a propagated frame (EVS eq. 4's P_refiner), on the full frame or on tiles that
cover the IAM mask (``edgeseg.runtime.pipeline.tiles``). Torch-free."""

from __future__ import annotations

import time

import numpy as np

from edgeseg.runtime.engines.registry import Engine
from edgeseg.runtime.fusion import refiner
from edgeseg.runtime.pipeline import tiles

SKIP = 4  # frames refined in full without planning after a mask far over the tile budget


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the first axis (classes), float32."""
    e = np.exp(scores - scores.max(0, keepdims=True))
    return (e / e.sum(0, keepdims=True)).astype(np.float32)


class Refinement:
    """Runs the refiner graph on the full frame, or its tile graph on the tiles over the mask when they hold at
    most ``budget`` of the full frame's pixels (0: never; inf: always; None: where tiles cost less, measured once
    here by ``break_even``). ``tiled``/``grid`` None: a bundle without tiles, always the full frame."""

    def __init__(self, full: Engine, tiled: Engine | None = None, grid: tiles.TileGrid | None = None,
                 budget: float | None = None):
        self.full, self.tiled, self.grid = full, tiled, grid
        if tiled is None or grid is None:
            self.budget = 0.0  # no tile graph in the bundle: the full frame, whatever was asked
        else:
            self.budget = budget if budget is not None else self.break_even()
        self._skip = 0  # frames left to refine in full without planning (after a mask far over the budget)

    def break_even(self, runs: int = 3) -> float:
        """The share of the frame's pixels at which tiles cost what the full frame costs, on this machine and
        backend: one run of each path (crops, graph, softmax, pastes included) timed on synthetic inputs, median
        of ``runs`` after a warm-up; scaled by 0.8 so that a noisy measure errs towards the full frame."""
        assert self.grid is not None
        shapes = self.full.inputs
        image = np.zeros(shapes["image"], np.float32)
        probs = np.full(shapes["warped_probs"][1:], 1.0 / shapes["warped_probs"][1], np.float32)
        feats = np.zeros(shapes["warped_feats"][1:], np.float32) if "warped_feats" in shapes else None
        one_batch = self.grid.plan(np.ones((probs.shape[1], probs.shape[2]), bool))[:self.grid.batch]

        def median_s(planned: list[tiles.Tile]) -> float:
            times = []
            for n in range(runs + 1):  # the first is a warm-up
                start = time.perf_counter()
                self.probs(image, probs, feats, planned)
                if n:
                    times.append(time.perf_counter() - start)
            return sorted(times)[len(times) // 2]
        batches = median_s([]) / max(median_s(one_batch), 1e-9)
        return 0.8 * self.grid.area_ratio(1) * batches

    def plan(self, mask: np.ndarray) -> list[tiles.Tile]:
        """The tiles to refine for a soft mask at the frame's resolution; [] means the full frame.

        Planning costs 0.2-0.5 ms; after a mask whose tiles needed over twice the budget, the next frames (whose
        masks change little) skip it for ``SKIP`` frames. Both paths give the same result: this is speed only.
        """
        if self.tiled is None or self.grid is None or self.budget <= 0:
            return []
        if self._skip:
            self._skip -= 1
            return []
        planned = self.grid.plan(self.grid.cells(mask))
        ratio = self.grid.area_ratio(len(planned))
        if ratio > 2 * self.budget:
            self._skip = SKIP
        return planned if ratio <= self.budget else []

    def probs(self, image: np.ndarray, probs: np.ndarray, feats: np.ndarray | None, planned: list[tiles.Tile]
              ) -> np.ndarray:
        """Refined probabilities (L x h/4 x w/4): everywhere (``planned`` empty), or inside the tiles' cores with
        the warped ones elsewhere (the blend reads only the cores there: they cover the mask)."""
        feed = refiner.feed(image, feats, probs)
        if not planned:
            return softmax(self.full.infer(feed)["logits"][0])
        assert self.tiled is not None and self.grid is not None
        grid, out = self.grid, probs.copy()
        for start in range(0, len(planned), grid.batch):
            batch = planned[start:start + grid.batch]
            logits = self.tiled.infer(tiles.crop_feed(feed, batch, grid))["logits"]
            tiles.paste(out, np.stack([softmax(x) for x in logits[:len(batch)]]), batch)
        return out
