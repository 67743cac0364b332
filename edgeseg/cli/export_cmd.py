"""``edgeseg export MODEL --out DIR``: ONNX bundle with a parity gate (needs the [export] extra)."""

from __future__ import annotations

import argparse
import json

from edgeseg._lazy import lazy_import
from edgeseg.errors import UsageError

HEAD_CHOICES = ("refiner", "stgru", "netwarp", "gcrf")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="checkpoint file, folder with backbone.pt (+ heads), or 'default'")
    p.add_argument("--out", required=True, help="bundle folder to write (replaced only once the new one is complete)")
    p.add_argument("--precision", default="fp32", choices=["fp32"], help="graph precision (default: %(default)s)")
    p.add_argument("--calib", help="frames for the parity gate: image folder or video (default: CamVid val)")
    p.add_argument("--calib-frames", type=int, default=16, help="number of frames used (default: %(default)s)")
    p.add_argument("--heads", default="all", help="all | none | comma list of refiner,stgru,netwarp,gcrf (default: all)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset, >= 17 (default: %(default)s)")
    p.add_argument("--miou-images", help="images for the backbone mIoU check (default: CamVid test when present)")
    p.add_argument("--miou-labels", help="labels for the backbone mIoU check (default: CamVid testannot)")
    p.add_argument("--allow-parity-failure", action="store_true", help="keep the bundle even if a gate fails (recorded in parity.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_heads(text: str) -> tuple[str, ...]:
    if text == "all":
        return HEAD_CHOICES
    if text == "none":
        return ()
    heads = tuple(h.strip() for h in text.split(",") if h.strip())
    bad = [h for h in heads if h not in HEAD_CHOICES]
    if bad:
        raise UsageError(f"--heads: unknown head(s) {', '.join(bad)}; choose from all, none, {','.join(HEAD_CHOICES)}")
    return heads


def run(args: argparse.Namespace) -> int:
    lazy_import("torch", "pip install torch, then pip install 'edgeseg[export]'")
    lazy_import("onnx", "pip install 'edgeseg[export]'")
    from edgeseg.export.bundle import ExportOptions, export_bundle
    opts = ExportOptions(model=args.model, out=args.out, precision=args.precision, calib=args.calib,
                         calib_frames=args.calib_frames, heads=parse_heads(args.heads), opset=args.opset,
                         allow_parity_failure=args.allow_parity_failure, miou_images=args.miou_images,
                         miou_labels=args.miou_labels, progress=not args.no_progress)
    out = export_bundle(opts)
    parity = json.loads((out / "parity.json").read_text())
    print(f"{'graph':<14} {'precision':<9} {'max |diff|':>11} {'mean |diff|':>12} {'agreement %':>12}")
    for key, p in parity.items():
        print(f"{key:<14} {p['precision']:<9} {p['max_abs_diff']:11.2e} {p['mean_abs_diff']:12.2e} {p['pixel_agreement']:12.4f}"
              + ("" if p["passed"] else "  FAILED"))
    bb = parity.get("backbone", {})
    if bb.get("miou") is not None:
        print(f"backbone mIoU: torch {bb['miou_fp32']:.2f}%  bundle {bb['miou']:.2f}%")
    print(f"bundle written to {out}")
    return 0
