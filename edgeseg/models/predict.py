"""Run a torch backbone checkpoint on RGB frames (reference path for eval and parity)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeseg.runtime.engines.postprocess import upsample_argmax
from edgeseg.runtime.engines.preprocess import preprocess


class TorchSegmenter:
    """``seg(rgb) -> (labels HxW uint8 at the frame's size)`` using the checkpoint's preprocessing."""

    def __init__(self, model: torch.nn.Module, ckpt: dict[str, Any], input_size: tuple[int, int] | None = None):
        self.model = model.eval()
        self.size = tuple(input_size or ckpt["input_size"])
        self.mean, self.std = ckpt["mean"], ckpt["std"]

    @torch.no_grad()
    def logits(self, rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(preprocess(rgb, self.size, self.mean, self.std))
        return self.model(x)[0][0].numpy()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return upsample_argmax(self.logits(rgb), rgb.shape[:2])

