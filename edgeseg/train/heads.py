"""Train the video heads (refiner, stgru, netwarp, gcrf) on top of a frozen backbone.

Clips are synthesised from labelled training images (``edgeseg.train.clips``); the previous frame's
maps are propagated by real DIS flow and the runtime's nearest-neighbour warp
(``edgeseg.runtime.motion.reference``), exactly as the runtime does it, so each head learns on the inputs it
will see at run time.

The frozen backbone is an edgeseg checkpoint (torch) or any bundle (its backbone graph run by ONNX Runtime
with the manifest's pre-processing, scores brought to the heads' 1/4 resolution as the runtime does): heads
are trainable on top of a model edgeseg did not build. Such a backbone has no features: the refiner is then
built without them, and NetWarp cannot be trained.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from edgeseg.data.folders import FolderDataset
from edgeseg.errors import UsageError
from edgeseg.models import build_model
from edgeseg.models.checkpoint import load_checkpoint, save_checkpoint
from edgeseg.models.warp import resize_flow
from edgeseg.runtime.engines.preprocess import preprocess
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.motion.reference import warp_nearest
from edgeseg.train.augment import class_weights
from edgeseg.train.backbone import seg_loss
from edgeseg.train.clips import synth_clip
from edgeseg.train.common import seed_everything, set_threads, train_epochs


@dataclass
class HeadConfig:
    head: str
    backbone: str
    images: str
    labels: str
    out: str
    clips: int = 200
    frames: int = 5
    epochs: int = 4
    batch: int = 8
    lr: float = 1e-3
    seed: int = 0
    threads: int | None = None
    model_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Clip:
    """One synthetic clip with the frozen backbone's outputs and the DIS flows between its frames."""

    frames: list[np.ndarray]
    labels: np.ndarray  # T x H x W uint8
    logits: torch.Tensor  # T x L x H/4 x W/4 (fp16)
    feats: torch.Tensor | None  # T x C x H/8 x W/8 (fp16); None: a backbone without features
    flows: np.ndarray  # T x H x W x 2, flows[t] = backward flow t -> t-1 (flows[0] = 0)


@dataclass
class Frozen:
    """The frozen backbone: ``segment(frames) -> (T x L x H/4 x W/4 scores, T x C x H/8 x W/8 features or None)``,
    the metadata the heads' checkpoints carry, and the torch module when there is one."""

    segment: Callable[[list[np.ndarray]], tuple[torch.Tensor, torch.Tensor | None]]
    ckpt: dict[str, Any]
    feat_channels: int
    module: torch.nn.Module | None = None


def frozen_backbone(path: str) -> Frozen:
    """An edgeseg backbone checkpoint, or a bundle folder (manifest.json) whose backbone graph ONNX Runtime runs."""
    if (Path(path) / "manifest.json").is_file():
        return _bundle_backbone(path)
    backbone, ckpt = load_checkpoint(path)
    for p in backbone.parameters():
        p.requires_grad_(False)
    size = tuple(ckpt["input_size"])

    @torch.no_grad()
    def segment(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = torch.from_numpy(np.concatenate([preprocess(f, size, ckpt["mean"], ckpt["std"]) for f in frames]))
        logits, feats = backbone(x)
        return logits, feats
    return Frozen(segment, ckpt, backbone.feat_channels, backbone)


def _bundle_backbone(path: str) -> Frozen:
    from edgeseg.bundle import load_bundle
    from edgeseg.runtime.engines.segment import BundleSegmenter
    bundle = load_bundle(path)
    m = bundle.manifest
    if m.output.kind != "scores":
        raise UsageError(f"{path} gives labels only; the heads are trained on class scores")
    seg = BundleSegmenter(bundle)
    ckpt = {"class_names": m.classes.names, "palette": m.classes.palette, "ignore_id": m.classes.ignore_id, "mean": m.input.mean,
            "std": m.input.std, "input_size": m.input.size, "config": {}, "bundle": str(Path(path).resolve())}

    def segment(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        maps = [seg.head_maps(f) for f in frames]
        feats = [f for _, f in maps]
        scores = torch.from_numpy(np.stack([s for s, _ in maps]))
        return scores, (torch.from_numpy(np.stack(feats)) if all(f is not None for f in feats) else None)
    feat_channels = 0
    if seg.net.features:
        shape = next(o.shape for o in bundle.graphs["backbone"].outputs if o.name == seg.net.features)
        feat_channels = int(shape[1])
    return Frozen(segment, ckpt, feat_channels)


def build_clips(backbone: Frozen, images: list[np.ndarray], labels: list[np.ndarray],
                count: int, frames: int, rng: np.random.Generator) -> list[Clip]:
    flow = FlowEstimator()
    clips = []
    for _ in tqdm(range(count), desc="synthesising clips", unit="clip", mininterval=5):
        i, j = rng.integers(0, len(images), size=2)
        fr, lb = synth_clip(images[i], labels[i], rng, frames, donor=(images[j], labels[j]))
        logits, feats = backbone.segment(fr)
        grays = [to_gray(f) for f in fr]
        flows = np.zeros((frames, *lb[0].shape, 2), np.float32)
        for t in range(1, frames):
            flows[t] = flow.backward(grays[t], grays[t - 1])
        clips.append(Clip(fr, np.stack(lb), logits.half(), None if feats is None else feats.half(), flows))
    return clips


def small_images(frames: list[np.ndarray], size: tuple[int, int], ckpt: dict) -> torch.Tensor:
    """Frames normalised at a map's resolution (what the runtime feeds the heads)."""
    return torch.from_numpy(np.concatenate([preprocess(f, size, ckpt["mean"], ckpt["std"]) for f in frames]))


def flows_at(flows: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """T x H x W x 2 full-resolution flows -> T x 2 x h x w, values rescaled to the map's pixels."""
    return resize_flow(torch.from_numpy(flows).permute(0, 3, 1, 2).contiguous(), size)


# --- per-head sample makers: each turns a clip into training tensors ------------------------------

def refiner_samples(clip: Clip, ckpt: dict) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    """Keyframe = frame 0; probabilities and features propagated frame by frame, as the runtime does."""
    probs = torch.softmax(clip.logits[0:1].float(), 1)[0].numpy()
    feats = clip.feats[0].float().numpy() if clip.feats is not None else None
    for t in range(1, len(clip.frames)):
        probs = warp_nearest(probs, clip.flows[t])
        img = torch.from_numpy(preprocess(clip.frames[t], tuple(ckpt["input_size"]), ckpt["mean"], ckpt["std"]))
        target = torch.from_numpy(clip.labels[t:t + 1].astype(np.int64))
        if feats is None:
            yield (img, torch.from_numpy(probs)[None]), target
            continue
        feats = warp_nearest(feats, clip.flows[t])
        yield (img, torch.from_numpy(feats)[None], torch.from_numpy(probs)[None]), target


def sequence_sample(clip: Clip, ckpt: dict) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    size = tuple(clip.logits.shape[-2:])
    return (clip.logits.float(), small_images(clip.frames, size, ckpt), flows_at(clip.flows, size)), \
        torch.from_numpy(clip.labels.astype(np.int64))


def netwarp_samples(clip: Clip, ckpt: dict) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    assert clip.feats is not None  # train_head refuses NetWarp on a backbone without features
    size = tuple(clip.feats.shape[-2:])
    imgs, flows = small_images(clip.frames, size, ckpt), flows_at(clip.flows, size)
    for t in range(1, len(clip.frames)):
        yield (clip.feats[t:t + 1].float(), clip.feats[t - 1:t].float(), imgs[t:t + 1], imgs[t - 1:t],
               flows[t:t + 1]), torch.from_numpy(clip.labels[t:t + 1].astype(np.int64))


# --- per-head losses -------------------------------------------------------------------------------

def stgru_loss(model, inputs, target, weight, ignore):
    """Unroll the cell over the clip (h_0 = x_0) and average the loss over frames 1..T-1."""
    logits, imgs, flows = inputs  # batched: B x T x ...
    h = logits[:, 0]
    loss = 0.0
    steps = logits.shape[1] - 1
    for t in range(1, steps + 1):
        h = model(logits[:, t], h, imgs[:, t], imgs[:, t - 1], flows[:, t])
        loss = loss + seg_loss(h, target[:, t], weight, ignore)
    return loss / steps


def gcrf_loss(model, inputs, target, weight, ignore):
    """Windows of ``model.frames`` consecutive frames; loss on every frame of each window's solution."""
    logits, imgs, _ = inputs
    v = model.frames
    loss, n = 0.0, 0
    for b in range(logits.shape[0]):
        for s in range(0, logits.shape[1] - v + 1):
            out = model.solve_window(logits[b, s:s + v], imgs[b, s:s + v])
            loss = loss + seg_loss(out, target[b, s:s + v], weight, ignore)
            n += 1
    return loss / n


def framewise_loss(model, inputs, target, weight, ignore):
    return seg_loss(model(*inputs), target, weight, ignore)


@dataclass(frozen=True)
class Recipe:
    """How one head is trained: its samples from a clip, how they are batched, its loss, its model config."""

    samples: Callable[[Clip, dict], Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]]
    stack: Callable[..., torch.Tensor]
    loss: Callable[..., torch.Tensor]
    config: Callable[[Frozen], dict[str, Any]] = lambda backbone: {}
    init: Callable[[torch.nn.Module, Frozen], None] = lambda model, backbone: None
    needs_feats: bool = False


def _with_feats(backbone: Frozen) -> dict[str, Any]:
    return {"feat_channels": backbone.feat_channels}


def _netwarp_init(model: torch.nn.Module, backbone: Frozen) -> None:
    assert backbone.module is not None
    model.classifier.load_state_dict(backbone.module.classifier.state_dict())  # starts as the backbone's per-frame head


def _sequence(clip: Clip, ckpt: dict) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    yield sequence_sample(clip, ckpt)


# One recipe per registered head that ``edgeseg train`` can train (names: edgeseg.runtime.fusion.HEADS).
RECIPES: dict[str, Recipe] = {
    "refiner": Recipe(refiner_samples, torch.cat, framewise_loss,
                      lambda backbone: {**_with_feats(backbone), "width": backbone.ckpt["config"].get("width", 1.0)}),
    "stgru": Recipe(_sequence, torch.stack, stgru_loss),
    "netwarp": Recipe(netwarp_samples, torch.cat, framewise_loss, _with_feats, _netwarp_init, needs_feats=True),
    "gcrf": Recipe(_sequence, torch.stack, gcrf_loss),
}


def collate(samples: list[tuple[tuple[torch.Tensor, ...], torch.Tensor]], stack: Callable) -> tuple:
    inputs = tuple(stack([s[0][k] for s in samples]) for k in range(len(samples[0][0])))
    return inputs, stack([s[1] for s in samples])


def train_head(cfg: HeadConfig, resume: bool = True) -> Path:
    """Train one head on synthetic clips; writes ``cfg.out/<head>.pt`` (and resumable ``<head>.last.pt``)."""
    if cfg.head not in RECIPES:
        raise UsageError(f"no training recipe for head {cfg.head!r}; trainable: {', '.join(RECIPES)}")
    recipe = RECIPES[cfg.head]
    set_threads(cfg.threads)
    rng = seed_everything(cfg.seed)
    backbone = frozen_backbone(cfg.backbone)
    ckpt = backbone.ckpt
    if recipe.needs_feats and backbone.module is None:
        raise UsageError(f"{cfg.head} needs the backbone's features and the torch module; {cfg.backbone} is a bundle: "
                         "train refiner, stgru or gcrf on it")
    num_classes = len(ckpt["class_names"])
    ignore = ckpt["ignore_id"]
    images, labels = FolderDataset(cfg.images, cfg.labels).load_all()
    weight = torch.from_numpy(class_weights(labels, num_classes))
    clips = build_clips(backbone, images, labels, cfg.clips, cfg.frames, rng)

    config: dict[str, Any] = {"num_classes": num_classes, **recipe.config(backbone), **cfg.model_config}
    model = build_model(cfg.head, **config)
    recipe.init(model, backbone)
    samples = [s for c in clips for s in recipe.samples(c, ckpt)]
    stack, loss_fn = recipe.stack, recipe.loss
    del clips

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = (len(samples) + cfg.batch - 1) // cfg.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps))
    out = Path(cfg.out)
    t0 = time.time()

    def loss_of(idx: np.ndarray) -> torch.Tensor:
        inputs, target = collate([samples[i] for i in idx], stack)
        return loss_fn(model, inputs, target, weight, ignore)

    for _ in train_epochs(cfg.head, model, opt, sched, rng, out / f"{cfg.head}.last.pt", asdict(cfg), len(samples),
                          cfg.batch, cfg.epochs, loss_of, resume):
        pass  # heads are written once, at the end
    model.eval()
    meta = {k: ckpt[k] for k in ("class_names", "palette", "ignore_id", "mean", "std", "input_size")}
    extra = {"trained_epochs": cfg.epochs, **({"bundle": ckpt["bundle"]} if "bundle" in ckpt else {})}
    save_checkpoint(out / f"{cfg.head}.pt", model, cfg.head, config, meta, extra=extra)
    print(f"{cfg.head} training done in {(time.time() - t0) / 60:.1f} min -> {out / f'{cfg.head}.pt'}")
    return out / f"{cfg.head}.pt"
