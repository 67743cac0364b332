"""``edgeseg export MODEL --out DIR``: ONNX bundle with a parity gate (needs the [export] extra)."""

from __future__ import annotations

import argparse
import json

from edgeseg._lazy import lazy_import
from edgeseg.cli.common import any_size, three_floats
from edgeseg.errors import UsageError
from edgeseg.runtime.fusion import HEADS, head_names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="edgeseg checkpoint file, folder with backbone.pt (+ heads), 'default', "
                   "a foreign FILE.onnx, or an import spec package.module:factory (a PyTorch module; see --kwargs, --weights)")
    p.add_argument("--out", required=True, help="bundle folder to write (replaced only once the new one is complete)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "int8"],
                   help="graph precision; fp16/int8 keep fp32 inputs and outputs (default: %(default)s)")
    p.add_argument("--calib", metavar="SOURCE", help="frames for the parity gate and int8 calibration: image folder or video "
                                   "(default: CamVid val under $EDGESEG_DATA, else sample://bikes)")
    p.add_argument("--calib-frames", metavar="N", type=int, default=32,
                   help="int8 calibration frames, taken after the parity frames (default: %(default)s)")
    p.add_argument("--calib-method", default="minmax", choices=["minmax", "entropy", "percentile"],
                   help="int8 activation range estimator (default: %(default)s)")
    p.add_argument("--parity-frames", metavar="N", type=int, default=16, help="frames for the parity gate (default: %(default)s)")
    p.add_argument("--size", metavar="HxW", type=any_size,
                   help="static input size of the graphs: for edgeseg checkpoints multiples of 32 (default: the checkpoint's, "
                        "e.g. 480x640); for a foreign model any size, required when its graph's size is dynamic and for import specs")
    p.add_argument("--refiner-tiles", default="auto", metavar="auto|none|HxW[xB]",
                   help="the refiner's tile graph, so refinement costs what the IAM mask covers: whole tiles of HxW network "
                        "pixels, the refiner's context (24 px for the default refiner) on each side included, so H and W "
                        "exceed twice it; multiples of 8; B tiles per graph run. Smaller tiles cover the mask more tightly "
                        "but each costs a run, so the runtime uses them only where they cost less than the full frame. "
                        "auto: a 64-pixel core plus the context, B=1; none: full-frame refinement only (default: %(default)s)")
    p.add_argument("--heads", default="all", help="edgeseg checkpoints: all | none | a comma list of: " +
                   "; ".join(f"{name}: {HEADS[name].summary}" for name in head_names()) +
                   " (default: all = every head whose checkpoint is next to the backbone)")
    p.add_argument("--opset", metavar="N", type=int, default=18, help="ONNX opset, >= 17 (default: %(default)s)")
    p.add_argument("--miou-images", metavar="DIR",
                   help="images for the backbone mIoU check (default: CamVid test under $EDGESEG_DATA, else no check)")
    p.add_argument("--miou-labels", metavar="DIR", help="labels for the backbone mIoU check (default: CamVid testannot under $EDGESEG_DATA)")
    p.add_argument("--tensorrt", action="store_true",
                   help="also build TensorRT engines (needs TensorRT 10/11 and an NVIDIA GPU)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MIB", help="TensorRT workspace limit (default: %(default)s MiB)")
    p.add_argument("--allow-parity-failure", action="store_true", help="keep the bundle even if a gate fails (recorded in parity.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--heads-from", metavar="DIR", help="MODEL is a bundle: add the heads in DIR, trained on it with "
                   "edgeseg train refiner|stgru|gcrf --backbone BUNDLE --out DIR (each gated), to a copy written to --out")
    g = p.add_argument_group("a model edgeseg did not build (FILE.onnx or package.module:factory)")
    g.add_argument("--classes", metavar="NAMES", help="camvid | cityscapes | FILE (one class a line, in class-id order: 'name' or 'name R G B'); "
                                     "required for a foreign model")
    g.add_argument("--channels", default="rgb", choices=["rgb", "bgr"], help="channel order the model expects (default: %(default)s)")
    g.add_argument("--scale", metavar="S", type=float, default=255.0,
                   help="pixel values are divided by S before mean/std (default: %(default)g; 1 = raw 0..255)")
    g.add_argument("--mean", metavar="R,G,B", help="per-channel mean subtracted after scaling (default: ImageNet's)")
    g.add_argument("--std", metavar="R,G,B", help="per-channel std divided by after the mean (default: ImageNet's)")
    g.add_argument("--layout", choices=["nchw", "nhwc"], help="input layout (default: read from the graph; PyTorch modules: nchw)")
    g.add_argument("--output", metavar="NAME|INDEX", help="the output holding class scores or labels (default: the only "
                   "output with len(classes) channels or a label map; 'out' / 'logits' when several)")
    g.add_argument("--resize", choices=["area", "linear"], default="area",
                   help="how frames are resized to the input: area (OpenCV area averaging when shrinking, bilinear when "
                        "enlarging) or linear (bilinear both ways, as torch's interpolate without antialiasing) (default: %(default)s)")
    g.add_argument("--weights", metavar="FILE", help="import spec: a state_dict or checkpoint loaded strictly into the factory's module")
    g.add_argument("--kwargs", metavar="JSON", help="import spec: keyword arguments for the factory, e.g. "
                   "'{\"num_classes\": 11, \"weights\": null}'")


def parse_heads(text: str) -> tuple[str, ...] | None:
    """None for ``all``: every registered head whose checkpoint is there (a checkpoint folder older than a head
    keeps exporting); a named head must be there."""
    choices = head_names()
    if text == "all":
        return None
    if text == "none":
        return ()
    heads = tuple(h.strip() for h in text.split(",") if h.strip())
    bad = [h for h in heads if h not in choices]
    if bad:
        raise UsageError(f"--heads: unknown head(s) {', '.join(bad)}; choose from all, none, {','.join(choices)}")
    return heads


def run(args: argparse.Namespace) -> int:
    lazy_import("torch", "pip install torch, then pip install 'edgeseg[export]'")
    lazy_import("onnx", "pip install 'edgeseg[export]'")
    from edgeseg.export.bundle import ExportOptions, ForeignOptions, export_bundle
    opts = ExportOptions(model=args.model, out=args.out, precision=args.precision, calib=args.calib,
                         calib_frames=args.calib_frames, calib_method=args.calib_method,
                         parity_frames=args.parity_frames, size=args.size, heads=parse_heads(args.heads),
                         opset=args.opset, allow_parity_failure=args.allow_parity_failure,
                         miou_images=args.miou_images, miou_labels=args.miou_labels, progress=not args.no_progress,
                         tensorrt=args.tensorrt, workspace_mib=args.workspace, heads_from=args.heads_from,
                         refiner_tiles=args.refiner_tiles,
                         foreign=ForeignOptions(classes=args.classes, channels=args.channels, scale=args.scale,
                                                mean=three_floats("--mean", args.mean), std=three_floats("--std", args.std),
                                                layout=args.layout, output=args.output, weights=args.weights,
                                                kwargs=args.kwargs, resize=args.resize))
    out = export_bundle(opts)
    parity = json.loads((out / "parity.json").read_text())
    print_parity(parity)
    for version, result in parity.get("tensorrt_check", {}).items():
        print(f"TensorRT {version} check (edgeseg check): {'passed' if result['passed'] else 'FAILED'}"
              + "".join(f"\n  {line}" for line in result["findings"] if ": error: " in line))
    print(f"bundle written to {out}")
    return 0


def print_parity(parity: dict) -> None:
    """One row per graph file: precision, differences against torch fp32, agreement, mIoU, status."""
    print(f"{'graph':<22} {'precision':<9} {'max |diff|':>11} {'mean |diff|':>12} {'agreement %':>12} {'mIoU %':>14}  status")
    for key, p in parity.items():
        if key == "tensorrt_check":
            continue
        for name, row in [(key, p)] + [(f"{key} [{v}]", r) for v, r in p.get("variants", {}).items()]:
            miou = f"{row['miou']:.2f} ({row['miou'] - row['miou_fp32']:+.2f})" if row.get("miou") is not None else "-"
            status = "ok" if row["passed"] else "FAILED"
            if row.get("fallback"):
                status += f" ({row['fallback']})"
            print(f"{name:<22} {row['precision']:<9} {row['max_abs_diff']:11.2e} {row['mean_abs_diff']:12.2e} "
                  f"{row['pixel_agreement']:12.4f} {miou:>14}  {status}")
