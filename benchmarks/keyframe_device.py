"""Keyframes done whole on the torch backend's device (issue 14, part 4) against the backbone's own time, in one run.

For each frame size: the backbone alone (its module on an input already on the device), the keyframe with pre- and
post-processing on the host (OpenCV resize + normalisation, C upsampling + argmax; the frame's input and scores cross
the bus) and the keyframe done on the device (the frame up once as uint8, labels back as uint8), median ms of
``--runs``. On a CUDA GPU the device path is the default one; here it also runs on the CPU, where it only shows
the cost of doing the same steps in PyTorch.

    python benchmarks/keyframe_device.py [--bundle runs/bundle_default] [--device cuda|cpu] [--runs 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from _report import DATA, ensure_bundle, machine_line, median_ms, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bundle import load_bundle
from edgeseg.runtime.engines.backends.torch_ref import TorchEngine
from edgeseg.runtime.engines.network_io import NetworkIO

SIZES = ((540, 960), (1024, 2048))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "runs" / "bundle_default"))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--name", help="results file name (default: keyframe_device_<device name>.md)")
    args = ap.parse_args()
    bundle = load_bundle(ensure_bundle(Path(args.bundle)))
    io = NetworkIO(bundle, "backbone")
    device = TorchEngine(bundle, "backbone", device=args.device, device_keyframes=True)
    host = TorchEngine(bundle, "backbone", device=args.device, device_keyframes=False)
    sync = torch.cuda.synchronize if device.device.type == "cuda" else (lambda: None)
    gpu = torch.cuda.get_device_name(device.device) if device.device.type == "cuda" else "CPU (PyTorch)"
    frame = cv2.cvtColor(cv2.imread(str(sorted((DATA / "camvid" / "val").glob("*.png"))[0])), cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(io.feed(frame)[io.input.name]).to(device.device)

    def backbone() -> None:
        with torch.inference_mode():
            device.module(x)
    alone = median_ms(backbone, args.runs, warmup=3, sync=sync)
    lines = [f"# Keyframes on the device: {gpu}", "", f"Machine: {machine_line('torch')}.", "",
             f"`python benchmarks/keyframe_device.py --device {args.device}`: bundle {Path(args.bundle).name}, network input "
             f"{io.size[0]}x{io.size[1]}, torch {torch.__version__}, median of {args.runs} runs. Backbone alone: "
             f"{alone:.2f} ms.", "",
             "| frame | host pre/post ms | x backbone | device keyframe ms | x backbone | device, scores kept ms | labels agree |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for h, w in SIZES:
        rgb = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        on_host = median_ms(lambda rgb=rgb: io.keyframe(host, rgb, keep=False), args.runs, warmup=3, sync=sync)
        on_device = median_ms(lambda rgb=rgb: io.keyframe(device, rgb, keep=False), args.runs, warmup=3, sync=sync)
        kept = median_ms(lambda rgb=rgb: io.keyframe(device, rgb, keep=True), args.runs, warmup=3, sync=sync)
        agree = 100 * float(np.mean(io.keyframe(device, rgb).frame_labels == io.keyframe(host, rgb).frame_labels))
        lines.append(f"| {w}x{h} | {on_host:.2f} | {on_host / alone:.2f}x | {on_device:.2f} | {on_device / alone:.2f}x | "
                     f"{kept:.2f} | {agree:.3f}% |")
    name = args.name or f"keyframe_device_{gpu.split(' (')[0].replace(' ', '_').lower()}.md"
    publish(lines, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
