"""Train a registered backbone (ICNet by default) on labelled images (CamVid train), resumable, with progress bars."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from edgeseg.data.folders import FolderDataset
from edgeseg.models import build_model
from edgeseg.models.checkpoint import read_checkpoint, save_checkpoint
from edgeseg.train.augment import augment, class_weights
from edgeseg.train.common import camvid_meta, optimizer_step, resume_state, save_state, seed_everything, set_threads, to_tensor_batch


@dataclass
class BackboneConfig:
    images: str
    labels: str
    out: str
    arch: str = "icnet"  # a registered backbone (edgeseg.models.list_models("backbone"))
    epochs: int = 120
    batch: int = 8
    crop: tuple[int, int] = (352, 352)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    width: float = 1.0
    aux_weight: float = 0.4
    seed: int = 0
    threads: int | None = None
    init: str | None = None  # start from this checkpoint's weights (a second, fine-tuning schedule)
    input_size: tuple[int, int] = (480, 640)  # deployment input (H, W) recorded in the checkpoint


def seg_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, ignore_id: int) -> torch.Tensor:
    """Class-weighted cross entropy on logits upsampled to the label size."""
    up = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.cross_entropy(up, target, weight=weight, ignore_index=ignore_id)


def train_backbone(cfg: BackboneConfig, resume: bool = True) -> Path:
    """Train and write ``cfg.out/backbone.pt``; ``cfg.out/last.pt`` lets an interrupted run resume."""
    set_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    meta = camvid_meta(cfg.input_size)
    images, labels = FolderDataset(cfg.images, cfg.labels).load_all()
    ignore = meta["ignore_id"]
    num_classes = len(meta["class_names"])
    weight = torch.from_numpy(class_weights(labels, num_classes))
    model = build_model(cfg.arch, num_classes=num_classes, width=cfg.width)
    if cfg.init:
        model.load_state_dict(read_checkpoint(cfg.init)["state_dict"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(images) / cfg.batch)
    total = cfg.epochs * steps_per_epoch
    warmup = steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (1 - min(s, total - 1) / total) ** 0.9)
    out = Path(cfg.out)
    state_path = out / "last.pt"
    start = resume_state(state_path, model, opt, sched, rng) if resume else 0
    t0 = time.time()
    for epoch in range(start, cfg.epochs):
        model.train()
        order = rng.permutation(len(images))
        bar = tqdm(range(steps_per_epoch), desc=f"backbone {epoch + 1}/{cfg.epochs}", unit="batch", mininterval=5)
        running = 0.0
        for step in bar:
            idx = order[step * cfg.batch:(step + 1) * cfg.batch]
            pairs = [augment(images[i], labels[i], rng, cfg.crop, ignore_id=ignore) for i in idx]
            x = to_tensor_batch([p[0] for p in pairs], meta["mean"], meta["std"])
            y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
            logits, _, aux = model(x, aux=True) if model.has_aux else (*model(x), [])
            loss = seg_loss(logits, y, weight, ignore) + cfg.aux_weight * sum(seg_loss(a, y, weight, ignore) for a in aux)
            optimizer_step(loss, opt, sched)
            running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
        save_state(state_path, model, opt, sched, rng, epoch + 1, asdict(cfg))
        save_checkpoint(out / "backbone.pt", model, cfg.arch, {"num_classes": num_classes, "width": cfg.width}, meta,
                        extra={"trained_epochs": epoch + 1})
    print(f"backbone training done in {(time.time() - t0) / 60:.1f} min -> {out / 'backbone.pt'}")
    return out / "backbone.pt"
