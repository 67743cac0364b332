"""Train a registered backbone (ICNet by default) on labelled images (CamVid train), resumable, with progress bars."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edgeseg.data.folders import FolderDataset
from edgeseg.models import build_model
from edgeseg.models.checkpoint import read_checkpoint, save_checkpoint
from edgeseg.train.augment import augment, class_weights
from edgeseg.train.common import camvid_meta, seed_everything, set_threads, to_tensor_batch, train_epochs


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
    total = cfg.epochs * math.ceil(len(images) / cfg.batch)
    warmup = math.ceil(len(images) / cfg.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (1 - min(s, total - 1) / total) ** 0.9)
    out = Path(cfg.out)
    t0 = time.time()

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        pairs = [augment(images[i], labels[i], rng, cfg.crop, ignore_id=ignore) for i in idx]
        x = to_tensor_batch([p[0] for p in pairs], meta["mean"], meta["std"])
        y = torch.from_numpy(np.stack([p[1] for p in pairs]).astype(np.int64))
        logits, _, aux = model(x, aux=True) if model.has_aux else (*model(x), [])
        return seg_loss(logits, y, weight, ignore) + cfg.aux_weight * sum(seg_loss(a, y, weight, ignore) for a in aux)

    for done in train_epochs("backbone", model, opt, sched, rng, out / "last.pt", asdict(cfg), len(images), cfg.batch,
                             cfg.epochs, loss_of, resume):
        save_checkpoint(out / "backbone.pt", model, cfg.arch, {"num_classes": num_classes, "width": cfg.width}, meta,
                        extra={"trained_epochs": done})
    print(f"backbone training done in {(time.time() - t0) / 60:.1f} min -> {out / 'backbone.pt'}")
    return out / "backbone.pt"
