"""Pieces every training loop shares: threads, seeding, resumable state, the dataset metadata."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE, CAMVID_PALETTE
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD


def camvid_meta(input_size: tuple[int, int] = (360, 480)) -> dict[str, Any]:
    """Checkpoint metadata for CamVid-11 models."""
    return {"class_names": list(CAMVID_CLASSES), "palette": [list(c) for c in CAMVID_PALETTE],
            "ignore_id": CAMVID_IGNORE, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "input_size": list(input_size)}


def seed_everything(seed: int) -> np.random.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def set_threads(threads: int | None) -> None:
    torch.set_num_threads(threads or max(1, os.cpu_count() or 1))


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically write resumable training state (model, optimizer, epoch, rng)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_tensor_batch(images: list[np.ndarray], mean: Any, std: Any) -> torch.Tensor:
    from edgeseg.runtime.preprocess import normalize
    return torch.from_numpy(np.stack([normalize(im, mean, std) for im in images]))
