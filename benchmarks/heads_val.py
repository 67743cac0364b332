"""Do the trained video heads help on real video? Per-head mIoU on CamVid val (a continuous 15 Hz run).

Each head is compared with the baseline it improves on, on the same frames in the same run:
  stgru, netwarp, gcrf  vs the per-frame backbone (every frame a keyframe)
  refiner               vs plain propagation (keyframe every S frames, DIS flow + nearest warp),
                        both the refiner everywhere and the IAM-style blend only where flow disagrees
This is a torch reference check of the heads (the runtime pipeline has its own benchmark).

    python benchmarks/heads_val.py [--model default] [--interval 5] [--frames 101]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from _report import DATA  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.data.folders import paired_samples, read_label, read_rgb
from edgeseg.data.metrics import ConfusionMatrix
from edgeseg.models.checkpoint import load_checkpoint, load_heads, resolve_model_dir
from edgeseg.models.warp import resize_flow
from edgeseg.runtime.engines.postprocess import upsample_argmax
from edgeseg.runtime.engines.preprocess import preprocess
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.motion.reference import warp_nearest

VAL = DATA / "camvid"


def iam_mask(labels_prev: np.ndarray, flow: np.ndarray, flow_fwd: np.ndarray, dilate: int = 7) -> np.ndarray:
    """EVS IAM on label maps: L_F = warp(L); L_BF = warp(warp_back(L_F)); mask where they differ, dilated."""
    lf = warp_nearest(labels_prev, flow)
    lbf = warp_nearest(warp_nearest(lf, flow_fwd), flow)
    m = (lf != lbf).astype(np.uint8)
    return cv2.dilate(m, np.ones((dilate, dilate), np.uint8)) > 0


@torch.no_grad()
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--interval", type=int, default=5, help="keyframe interval for the refiner comparison")
    ap.add_argument("--frames", type=int, default=101)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    if not (VAL / "val").is_dir():
        print(f"skipped: CamVid val not found at {VAL}")
        return 0
    torch.set_num_threads(int(os.environ.get("EDGESEG_THREADS", "2")))
    bb_path, folder = resolve_model_dir(args.model)
    backbone, ckpt = load_checkpoint(bb_path)
    heads = load_heads(folder)
    size = tuple(ckpt["input_size"])
    mean, std = ckpt["mean"], ckpt["std"]
    L, ignore = len(ckpt["class_names"]), ckpt["ignore_id"]
    samples = paired_samples(VAL / "val", VAL / "valannot")[: args.frames]
    dis = FlowEstimator()
    cms = {k: ConfusionMatrix(L, ignore) for k in ("backbone", "stgru", "netwarp", "gcrf", "propagated", "refiner_all", "refiner_iam")}
    h = feats_prev = prev = None
    window: list[tuple[torch.Tensor, torch.Tensor]] = []
    key_probs = key_feats = key_labels = None
    for t, s in enumerate(samples):
        rgb, truth = read_rgb(s.image), read_label(s.label)
        x = torch.from_numpy(preprocess(rgb, size, mean, std))
        logits, feats = backbone(x)
        q_size, e_size = tuple(logits.shape[-2:]), tuple(feats.shape[-2:])
        img4 = torch.from_numpy(preprocess(rgb, q_size, mean, std))
        img8 = torch.from_numpy(preprocess(rgb, e_size, mean, std))
        gray = to_gray(rgb)
        if prev is None:
            flow = np.zeros((*rgb.shape[:2], 2), np.float32)
            flow_fwd = flow
        else:
            flow = dis.backward(gray, prev["gray"])
            flow_fwd = dis.backward(prev["gray"], gray)
        ft = torch.from_numpy(flow).permute(2, 0, 1)[None].contiguous()
        cms["backbone"].update(upsample_argmax(logits[0].numpy(), rgb.shape[:2]), truth)
        if "stgru" in heads:
            h = logits if h is None else heads["stgru"][0](logits, h, img4, prev["img4"], resize_flow(ft, q_size))
            cms["stgru"].update(upsample_argmax(h[0].numpy(), rgb.shape[:2]), truth)
        if "netwarp" in heads:
            fp = feats if feats_prev is None else feats_prev
            i8p = img8 if prev is None else prev["img8"]
            out = heads["netwarp"][0](feats, fp, img8, i8p, resize_flow(ft, e_size))
            cms["netwarp"].update(upsample_argmax(out[0].numpy(), rgb.shape[:2]), truth)
        if "gcrf" in heads:
            g = heads["gcrf"][0]
            window = (window + [(logits[0], img4[0])])[-g.frames:]
            full = [window[0]] * (g.frames - len(window)) + window
            out = g(torch.stack([w[0] for w in full]), torch.stack([w[1] for w in full]))
            cms["gcrf"].update(upsample_argmax(out[0].numpy(), rgb.shape[:2]), truth)
        # Keyframe + propagation (+ refiner), EVS style.
        if t % args.interval == 0:
            key_probs = torch.softmax(logits, 1)[0].numpy()
            key_feats = feats[0].numpy()
            key_labels = upsample_argmax(logits[0].numpy(), rgb.shape[:2])
            for k in ("propagated", "refiner_all", "refiner_iam"):
                cms[k].update(key_labels, truth)
        else:
            mask = iam_mask(key_labels, flow, flow_fwd)
            key_probs, key_feats = warp_nearest(key_probs, flow), warp_nearest(key_feats, flow)
            key_labels = warp_nearest(key_labels, flow)
            prop = upsample_argmax(np.log(np.maximum(key_probs, 1e-6)), rgb.shape[:2])
            cms["propagated"].update(prop, truth)
            if "refiner" in heads:
                ref = heads["refiner"][0](x, torch.from_numpy(key_feats)[None], torch.from_numpy(key_probs)[None])
                ref_labels = upsample_argmax(ref[0].numpy(), rgb.shape[:2])
                cms["refiner_all"].update(ref_labels, truth)
                cms["refiner_iam"].update(np.where(mask, ref_labels, prop), truth)
        prev = {"gray": gray, "img4": img4, "img8": img8}
        feats_prev = feats
    result = {k: round(100 * cm.miou(), 2) for k, cm in cms.items() if cm.matrix.sum()}
    print(f"machine: {platform.processor() or platform.machine()}, python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"CamVid val, {len(samples)} frames, model {args.model}, refiner keyframe interval {args.interval}")
    for k, v in result.items():
        print(f"  {k:<12} mIoU {v:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"frames": len(samples), "interval": args.interval, "miou": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
