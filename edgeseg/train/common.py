"""Pieces every training loop shares: threads, seeding, resumable state, the dataset metadata."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE, CAMVID_PALETTE
from edgeseg.models.checkpoint import atomic_torch_save
from edgeseg.runtime.preprocess import IMAGENET_MEAN, IMAGENET_STD


def camvid_meta(input_size: tuple[int, int] = (480, 640)) -> dict[str, Any]:
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


def save_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
               rng: np.random.Generator, epoch: int, config: dict[str, Any]) -> None:
    """Atomically write resumable training state after ``epoch`` epochs."""
    atomic_torch_save(path, {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                             "rng": rng.bit_generator.state, "epoch": epoch, "config": config})


def resume_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                 rng: np.random.Generator) -> int:
    """Restore state written by save_state (if ``path`` exists); returns the epoch to start from."""
    if not path.is_file():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    rng.bit_generator.state = state["rng"]
    print(f"resuming from epoch {state['epoch']} ({path})")
    return int(state["epoch"])


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, sched: Any) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()


def to_tensor_batch(images: list[np.ndarray], mean: Any, std: Any) -> torch.Tensor:
    from edgeseg.runtime.preprocess import normalize
    return torch.from_numpy(np.stack([normalize(im, mean, std) for im in images]))
