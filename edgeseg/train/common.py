"""Pieces every training loop shares: threads, seeding, resumable epochs, the dataset metadata."""

from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE, CAMVID_PALETTE
from edgeseg.errors import UsageError
from edgeseg.models.checkpoint import atomic_torch_save
from edgeseg.runtime.engines.preprocess import IMAGENET_MEAN, IMAGENET_STD


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
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:  # another architecture or config (--width, --compact, ...) was trained into this folder
        raise UsageError(f"{path} holds resumable state of a different model configuration; pass --no-resume to start "
                         "over, or another --out") from None
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


def train_epochs(name: str, model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, rng: np.random.Generator,
                 state_path: Path, config: dict[str, Any], items: int, batch: int, epochs: int,
                 loss_of: Callable[[np.ndarray], torch.Tensor], resume: bool = True) -> Iterator[int]:
    """Resumable training epochs: each shuffles ``items``, steps the optimiser on ``loss_of(batch indices)`` under a
    progress bar, saves the resumable state to ``state_path``, and yields the number of epochs done."""
    start = resume_state(state_path, model, opt, sched, rng) if resume else 0
    steps = math.ceil(items / batch)
    for epoch in range(start, epochs):
        model.train()
        order = rng.permutation(items)
        bar = tqdm(range(steps), desc=f"{name} {epoch + 1}/{epochs}", unit="batch", mininterval=5)
        running = 0.0
        for step in bar:
            loss = loss_of(order[step * batch:(step + 1) * batch])
            optimizer_step(loss, opt, sched)
            running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
        save_state(state_path, model, opt, sched, rng, epoch + 1, config)
        yield epoch + 1


def to_tensor_batch(images: list[np.ndarray], mean: Any, std: Any) -> torch.Tensor:
    from edgeseg.runtime.engines.preprocess import normalize
    return torch.from_numpy(np.stack([normalize(im, mean, std) for im in images]))
