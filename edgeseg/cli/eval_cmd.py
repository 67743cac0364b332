"""``edgeseg eval MODEL --images DIR --labels DIR [--json FILE]``: per-class IoU and mIoU."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeseg._fs import atomic_write_text
from edgeseg._json import dumps
from edgeseg._lazy import lazy_import
from edgeseg.cli.common import check_outputs, parse_size
from edgeseg.errors import UsageError

# --variant -> which file of the backbone graph ONNX Runtime evaluates (edgeseg.bundle's variant names)
VARIANTS = {
    "auto": "the file ONNX Runtime runs best here (x86 CPU: an int8 graph's uint8-activation twin)",
    "tensorrt": "the bundle's own graph, the form TensorRT builds (int8: int8 activations)",
    "ort_x86": "int8 bundles: the twin with uint8 activations that ONNX Runtime's x86 kernels fuse",
    "fp32": "the fp32 graph an fp16 or int8 bundle keeps",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="checkpoint file, folder with backbone.pt, 'default', or a bundle folder "
                   "(manifest.json: runs the backbone graph on ONNX Runtime, no torch needed)")
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--labels", required=True, help="folder of label PNGs (class ids), matched to images by file stem")
    p.add_argument("--json", help="also write the result as JSON here (miou and per_class in percent, frames, graph)")
    p.add_argument("--size", metavar="HxW", type=parse_size,
                   help="checkpoints: network input size, multiples of 32 (default: the model's, e.g. 480x640)")
    p.add_argument("--downscale", type=float, default=1.0, help="bundles: which backbone graph, by downscale D (default: %(default)s)")
    p.add_argument("--variant", choices=list(VARIANTS), default="auto",
                   help="bundles: which file of the backbone graph ONNX Runtime evaluates: " +
                        "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()) + " (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def bundle_graph(bundle: Any, key: str, variant: str) -> tuple[str | None, Path, str]:
    """(the variant name to open, the file ONNX Runtime will load, a description of it) for ``--variant``."""
    from edgeseg.bundle import AUTO, ORT_X86
    from edgeseg.runtime.engines.backends.onnxrt import graph_variant
    entry = bundle.graphs[key]
    name: str | None = {"auto": AUTO, "tensorrt": None, "ort_x86": ORT_X86, "fp32": "fp32"}[variant]
    if name == "fp32" and entry.precision == "fp32":
        name = None  # an fp32 graph is its own fp32 file
    if name is not None and name != AUTO and name not in entry.variants:
        raise UsageError(f"--variant {variant}: graph {key!r} of {bundle.root} is {entry.precision} and has no "
                         f"{variant} file (it has: {', '.join(['tensorrt', *sorted(entry.variants)])}); "
                         "drop --variant or pick one it has")
    path = bundle.graph_path(key, verify=False, variant=graph_variant() if name == AUTO else name)
    if path.name == entry.file:
        chosen = None
        what = entry.precision + (", TensorRT form: int8 activations" if entry.precision == "int8" else "")
    else:
        chosen = next(v for v, ref in entry.variants.items() if ref.file == path.name)
        what = "int8, x86 twin: uint8 activations" if chosen == ORT_X86 else chosen
    return chosen, path, what


def segmenter(args: argparse.Namespace) -> tuple[Any, list[str], int | None, dict[str, Any]]:
    """(predict function, class names, ignore id, what was evaluated) for a bundle folder or a checkpoint."""
    if (Path(args.model) / "manifest.json").is_file():
        from edgeseg.bundle import graph_key, load_bundle
        from edgeseg.runtime.engines.segment import BundleSegmenter
        bundle = load_bundle(args.model)
        if args.size:
            raise UsageError("--size applies to checkpoints; a bundle has static shapes (pick one with --downscale)")
        key = graph_key("backbone", args.downscale)
        if key not in bundle.graphs:
            have = sorted((g.downscale for g in bundle.graphs.values() if g.role == "backbone"), reverse=True)
            raise UsageError(f"--downscale {args.downscale:g}: bundle {bundle.root} has no backbone graph at D={args.downscale:g} "
                             f"(it has D={', '.join(f'{d:g}' for d in have) or 'none'}); pass one of those")
        variant, path, what = bundle_graph(bundle, key, args.variant)
        classes = bundle.manifest.classes
        seg = BundleSegmenter(bundle, args.downscale, variant=variant)
        own = "fp32" if bundle.graphs[key].precision == "fp32" else "tensorrt"  # the bundle's own file, by --variant name
        evaluated = {"graph": path.name, "variant": variant or own, "precision": bundle.graphs[key].precision,
                     "description": what, "runtime": "onnxruntime"}
        return seg, classes.names, classes.ignore_id, evaluated
    if args.variant != "auto":
        raise UsageError("--variant applies to bundles (which file of the backbone graph); a checkpoint runs in PyTorch, "
                         "drop --variant")
    lazy_import("torch", "pip install torch (or pip install 'edgeseg[train]') to evaluate a checkpoint")
    from edgeseg.models.checkpoint import load_checkpoint, resolve_model_dir
    from edgeseg.models.predict import TorchSegmenter
    checkpoint = resolve_model_dir(args.model)[0]
    model, ckpt = load_checkpoint(checkpoint)
    return (TorchSegmenter(model, ckpt, args.size), ckpt["class_names"], ckpt["ignore_id"],
            {"graph": str(checkpoint), "variant": None, "precision": "fp32", "description": "checkpoint", "runtime": "torch"})


def describe(evaluated: dict[str, Any], model: str) -> str:
    """One line: which graph file was evaluated on what, and the other int8 form when there is one."""
    if evaluated["runtime"] == "torch":
        return f"evaluated {evaluated['graph']} in PyTorch (fp32)"
    line = f"evaluated {Path(model) / evaluated['graph']} ({evaluated['description']}) on ONNX Runtime"
    if evaluated["variant"] == "ort_x86":
        line += "; --variant tensorrt evaluates the TensorRT-form graph"
    elif evaluated["variant"] == "tensorrt" and evaluated["precision"] == "int8":
        line += "; --variant ort_x86 evaluates the x86 twin"
    return line


def run(args: argparse.Namespace) -> int:
    from edgeseg.data.evaluate import evaluate_folder
    check_outputs(args.json)
    seg, names, ignore, evaluated = segmenter(args)
    result = evaluate_folder(seg, args.images, args.labels, names, ignore, progress=not args.no_progress)
    result = {"model": str(args.model), "evaluated": evaluated, "input_size": list(seg.size), **result}
    print(describe(evaluated, args.model))
    width = max(len(n) for n in result["per_class"])
    for name, iou in result["per_class"].items():
        print(f"  {name:<{width}}  {'n/a' if iou is None else f'{iou:6.2f}'}")
    print(f"mIoU {result['miou']:.2f}%  pixel accuracy {result['pixel_accuracy']:.2f}%  ({result['frames']} frames)")
    if args.json:
        atomic_write_text(args.json, dumps(result))
    return 0
