"""``edgeseg eval MODEL --images DIR --labels DIR [--json FILE]``: per-class IoU and mIoU."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgeseg._fs import atomic_write_text
from edgeseg._json import dumps
from edgeseg._lazy import lazy_import
from edgeseg.cli.common import parse_size
from edgeseg.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="checkpoint file, folder with backbone.pt, 'default', or a bundle folder "
                   "(manifest.json: runs the backbone graph on ONNX Runtime, no torch needed)")
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--labels", required=True, help="folder of label PNGs (class ids), matched to images by file stem")
    p.add_argument("--json", help="also write the result as JSON here (miou and per_class in percent, frames)")
    p.add_argument("--size", metavar="HxW", type=parse_size,
                   help="checkpoints: network input size, multiples of 32 (default: the model's, e.g. 480x640)")
    p.add_argument("--downscale", type=float, default=1.0, help="bundles: which backbone graph, by downscale D (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def segmenter(args: argparse.Namespace):
    """(predict function, class names, ignore id) for a bundle folder or a checkpoint."""
    if (Path(args.model) / "manifest.json").is_file():
        from edgeseg.bundle import load_bundle
        from edgeseg.runtime.engines.segment import BundleSegmenter
        bundle = load_bundle(args.model)
        if args.size:
            raise UsageError("--size applies to checkpoints; a bundle has static shapes (pick one with --downscale)")
        classes = bundle.manifest.classes
        return BundleSegmenter(bundle, args.downscale), classes.names, classes.ignore_id
    lazy_import("torch", "pip install torch (or pip install 'edgeseg[train]') to evaluate a checkpoint")
    from edgeseg.models.checkpoint import load_checkpoint, resolve_model_dir
    from edgeseg.models.predict import TorchSegmenter
    model, ckpt = load_checkpoint(resolve_model_dir(args.model)[0])
    return TorchSegmenter(model, ckpt, args.size), ckpt["class_names"], ckpt["ignore_id"]


def run(args: argparse.Namespace) -> int:
    from edgeseg.data.evaluate import evaluate_folder
    seg, names, ignore = segmenter(args)
    result = evaluate_folder(seg, args.images, args.labels, names, ignore, progress=not args.no_progress)
    result = {"model": str(args.model), "input_size": list(seg.size), **result}
    width = max(len(n) for n in result["per_class"])
    for name, iou in result["per_class"].items():
        print(f"  {name:<{width}}  {'n/a' if iou is None else f'{iou:6.2f}'}")
    print(f"mIoU {result['miou']:.2f}%  pixel accuracy {result['pixel_accuracy']:.2f}%  ({result['frames']} frames)")
    if args.json:
        atomic_write_text(args.json, dumps(result))
    return 0
