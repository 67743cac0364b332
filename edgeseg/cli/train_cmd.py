"""``edgeseg train backbone|refiner|stgru|netwarp|gcrf``: training needs the [train] extra (torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeseg._lazy import lazy_import
from edgeseg.cli.common import parse_size
from edgeseg.errors import UsageError
from edgeseg.runtime.fusion import head_names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("backbone", *head_names()), help="the network to train; heads need a trained --backbone")
    p.add_argument("--data", help="data folder holding camvid/ (default: $EDGESEG_DATA)")
    p.add_argument("--images", help="training images (default: DATA/camvid/train)")
    p.add_argument("--labels", help="label PNGs with class ids, matched by stem (default: DATA/camvid/trainannot)")
    p.add_argument("--out", default="runs/default", help="output folder for <what>.pt and resumable state (default: %(default)s)")
    p.add_argument("--backbone", help="heads: the frozen backbone, an edgeseg checkpoint or any bundle folder (a model edgeseg did "
                                      "not build, run by ONNX Runtime; refiner, stgru, gcrf) (default: OUT/backbone.pt)")
    p.add_argument("--epochs", type=int, help="epochs (default: 120 for the backbone, 4 for heads)")
    p.add_argument("--batch", type=int, default=8, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 2e-3 backbone, 1e-3 heads)")
    p.add_argument("--arch", default="icnet", help="backbone: a registered backbone architecture (default: %(default)s)")
    p.add_argument("--width", type=float, default=1.0, help="backbone width multiplier (default: %(default)s)")
    p.add_argument("--clips", type=int, default=200, help="heads: number of synthetic clips (default: %(default)s)")
    p.add_argument("--frames", type=int, default=5, help="heads: frames per synthetic clip (default: %(default)s)")
    p.add_argument("--init", help="backbone: start from this checkpoint's weights (fine-tuning schedule)")
    p.add_argument("--crop", default="352x352", type=parse_size, metavar="HxW", help="backbone: training crop HxW (default: %(default)s)")
    p.add_argument("--input-size", default="480x640", type=parse_size, metavar="HxW", help="backbone: network input HxW recorded in the checkpoint; "
                   "frames are resized to it (CamVid 360x480 frames upscaled 4/3 gain ~5 mIoU on val) (default: %(default)s)")
    p.add_argument("--attractive", action="store_true",
                   help="gcrf: attractive pairwise terms ((lambda I - A) x = B: similar pixels pull scores together)")
    p.add_argument("--compact", action="store_true",
                   help="refiner: the compact variant (a third of the FLOPs, 24 px of tile context instead of 40): "
                        "cheaper refinement, by tiles or on the full frame")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT holds resumable state")


def apply_overrides(cfg: object, args: argparse.Namespace) -> None:
    """--epochs / --lr replace the per-network defaults only when given."""
    for name in ("epochs", "lr"):
        if getattr(args, name):
            setattr(cfg, name, getattr(args, name))


def run(args: argparse.Namespace) -> int:
    if args.attractive and args.what != "gcrf":
        raise UsageError("--attractive applies to the gcrf head only")
    if args.compact and args.what != "refiner":
        raise UsageError("--compact applies to the refiner only")
    lazy_import("torch", "pip install torch (or pip install 'edgeseg[train]')")
    from edgeseg.data import locations
    for name, split in (("images", "train"), ("labels", "trainannot")):
        if getattr(args, name) is None:
            found = locations.camvid(split, args.data)
            if found is None:
                raise UsageError(f"no --{name} given and no CamVid {split} under {args.data or locations.describe()}; "
                                 f"pass --{name} FOLDER or --data / $EDGESEG_DATA")
            setattr(args, name, str(found))
    for folder in (args.images, args.labels):
        if not Path(folder).is_dir():
            raise UsageError(f"training folder {folder} does not exist; pass --images/--labels")
    for name in ("val", "test"):
        if Path(args.images).name == name or Path(args.images).name == name + "annot":
            raise UsageError(f"refusing to train on {args.images}: CamVid {name} is for evaluation only")
    if args.what == "backbone":
        from edgeseg.train.backbone import BackboneConfig, train_backbone
        cfg = BackboneConfig(images=args.images, labels=args.labels, out=args.out, arch=args.arch, batch=args.batch,
                             width=args.width, seed=args.seed, threads=args.threads, init=args.init,
                             crop=args.crop, input_size=args.input_size)
        apply_overrides(cfg, args)
        train_backbone(cfg, resume=not args.no_resume)
        return 0
    from edgeseg.train.heads import HeadConfig, train_head
    backbone = args.backbone or str(Path(args.out) / "backbone.pt")
    if not Path(backbone).is_file() and not (Path(backbone) / "manifest.json").is_file():
        raise UsageError(f"backbone {backbone} is neither a checkpoint nor a bundle folder; train it first or pass --backbone")
    hcfg = HeadConfig(head=args.what, backbone=backbone, images=args.images, labels=args.labels, out=args.out,
                      clips=args.clips, frames=args.frames, batch=args.batch, seed=args.seed, threads=args.threads,
                      model_config={**({"attractive": True} if args.attractive else {}),
                                    **({"compact": True} if args.compact else {})})
    apply_overrides(hcfg, args)
    train_head(hcfg, resume=not args.no_resume)
    return 0
