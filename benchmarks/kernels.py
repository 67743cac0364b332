"""Each C kernel's time and GB/s next to the NumPy/OpenCV equivalent and a memcpy of the same bytes, same run.

Sizes are those of the default model at 480x640: labels 480x640, probabilities 11x120x160 (1/4),
features 128x60x80 (1/8); one label map also at 854x480 and 960x540, against one ``cv2.remap`` of the same
map (the common case: most operating points warp labels only), and by a flow at 1/4 (``CoarseFlow``, the runtime's
path) against resizing that flow first as DIS does, then one ``cv2.remap``. Bytes counted = bytes read + bytes written.

    python benchmarks/kernels.py [--runs 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import cv2
import numpy as np
from _report import median_ms  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.runtime.motion import kernels, reference
from edgeseg.runtime.motion.coarse_flow import CoarseFlow


def cv2_remap_warp(maps, flow, h, w):
    """The OpenCV way: one remap per channel with INTER_NEAREST and a map grid."""
    rows, cols = reference.source_index(flow, (h, w))
    mx, my = cols.astype(np.float32), rows.astype(np.float32)
    return [np.stack([cv2.remap(c, mx, my, cv2.INTER_NEAREST) for c in (m if m.ndim == 3 else m[None])]) for m in maps]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    H, W, L = 480, 640, 11
    flow = (rng.standard_normal((H, W, 2)) * 4).astype(np.float32)
    flow_fwd = (rng.standard_normal((H, W, 2)) * 4).astype(np.float32)
    labels = rng.integers(0, L, (H, W), dtype=np.uint8)
    probs = rng.random((L, H // 4, W // 4), dtype=np.float32)
    feats = rng.standard_normal((128, H // 8, W // 8)).astype(np.float32)
    mask = np.where(rng.random((H, W)) < 0.1, rng.random((H, W)), 0).astype(np.float32)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (L, 3), dtype=np.uint8)
    t = args.threads

    cases = []
    # The common case first, against the obvious baseline: one uint8 label map at the flow's resolution,
    # against one cv2.remap (INTER_NEAREST) with its maps built from the flow in the same call.
    for lh, lw in ((H, W), (480, 854), (540, 960)):
        lflow = (rng.standard_normal((lh, lw, 2)) * 4).astype(np.float32)
        lab = rng.integers(0, L, (lh, lw), dtype=np.uint8)
        gx, gy = np.meshgrid(np.arange(lw, dtype=np.float32), np.arange(lh, dtype=np.float32))

        def remap_one(lab=lab, lflow=lflow, gx=gx, gy=gy):
            return cv2.remap(lab, gx + lflow[..., 0], gy + lflow[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)

        cases.append((f"warp one uint8 label map {lw}x{lh}", 2 * lab.nbytes + lflow.nbytes,
                      lambda lab=lab, lflow=lflow: kernels.warp([lab], lflow, t), [("cv2.remap (+ its maps)", remap_one)]))
        # The runtime's path: DIS's flow kept at its finest scale (1/4), read by the kernel as it is, against what the
        # full-resolution field costs first (DIS's own resize + scaling) followed by one cv2.remap.
        coarse = CoarseFlow((rng.standard_normal((lh // 4, lw // 4, 2)) * 1).astype(np.float32), (lh, lw), 4.0)

        def upsample_then_remap(lab=lab, coarse=coarse, gx=gx, gy=gy):
            full = coarse.full()
            return cv2.remap(lab, gx + full[..., 0], gy + full[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)

        cases.append((f"warp one uint8 label map {lw}x{lh}, 1/4 flow", 2 * lab.nbytes + coarse.grid.nbytes,
                      lambda lab=lab, coarse=coarse: kernels.warp([lab], coarse, t),
                      [("flow resized x4 + cv2.remap", upsample_then_remap)]))
    for name, m, k in (("probabilities 11 x 1/4", probs, 4), ("features 128 x 1/8", feats, 8)):
        mh, mw = m.shape[-2:]
        rows, cols = reference.source_index(flow, (mh, mw))
        mx, my = cols.astype(np.float32), rows.astype(np.float32)
        gx, gy = np.meshgrid(np.arange(mw, dtype=np.float32), np.arange(mh, dtype=np.float32))

        def remap_with_maps(m=m, k=k, gx=gx, gy=gy):  # the flow sampled at the map's pixel centres, in its pixels
            small = flow[k // 2::k, k // 2::k] / np.float32(k)
            sx, sy = gx + small[..., 0], gy + small[..., 1]
            return [cv2.remap(c, sx, sy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE) for c in m]

        cases.append((f"warp {name} ({mw}x{mh})", 2 * m.nbytes + flow.nbytes, lambda m=m: kernels.warp([m], flow, t),
                      [("cv2.remap per channel (+ maps)", remap_with_maps),
                       ("cv2.remap per channel, maps given", lambda m=m, mx=mx, my=my: [cv2.remap(c, mx, my, cv2.INTER_NEAREST) for c in m])]))
    nbytes = 2 * (labels.nbytes + flow.nbytes // 2) + 2 * probs.nbytes + 2 * feats.nbytes

    def warp_all():
        kernels.warp([labels], flow, t)
        kernels.warp([probs], flow, t)
        kernels.warp([feats], flow, t)

    def warp_numpy():
        for m in (labels, probs, feats):
            reference.warp_nearest(m, flow)

    def warp_cv2():
        for m in (labels, probs, feats):
            cv2_remap_warp([m], flow, *m.shape[-2:])

    cases.append(("warp labels 1/1 + probs 1/4 + feats 1/8", nbytes, warp_all, [("numpy", warp_numpy), ("cv2.remap", warp_cv2)]))
    iam_bytes = 4 * labels.nbytes + 2 * flow.nbytes
    cases.append(("IAM inconsistency mask", iam_bytes, lambda: kernels.iam_inconsistency(labels, flow, flow_fwd, t),
                  [("numpy", lambda: reference.iam_inconsistency(labels, flow, flow_fwd))]))
    touched = int((mask > 0).sum())
    blend_bytes = mask.nbytes + touched * (2 * L * 4 + 1)
    lab2 = labels.copy()
    cases.append((f"masked blend + argmax ({100 * touched / mask.size:.0f}% of pixels)", blend_bytes,
                  lambda: kernels.blend_argmax(mask, probs, probs, lab2, t),
                  [("numpy", lambda: reference.blend_argmax(mask, probs, probs, labels)),
                   ("numpy dense (all pixels)", lambda: np.argmax(
                       0.5 * np.repeat(np.repeat(probs, 4, 1), 4, 2) + 0.5 * np.repeat(np.repeat(probs, 4, 1), 4, 2), 0))]))
    ov_bytes = 2 * rgb.nbytes + labels.nbytes
    cases.append(("colour overlay", ov_bytes, lambda: kernels.overlay(rgb, labels, palette, 0.5, t),
                  [("cv2.addWeighted + LUT", lambda: cv2.addWeighted(rgb, 0.5, palette[labels], 0.5, 0))]))
    scores = rng.standard_normal((L, 120, 160)).astype(np.float32)
    up_hw = (540, 960)
    up_bytes = scores.nbytes + up_hw[0] * up_hw[1]

    def upsample_cv2():
        np.stack([cv2.resize(c, up_hw[::-1], interpolation=cv2.INTER_LINEAR) for c in scores]).argmax(0)

    cases.append(("upsample 1/4 scores to 960x540 + argmax", up_bytes, lambda: kernels.upsample_argmax(scores, up_hw, t),
                  [("cv2.resize per class + argmax", upsample_cv2),
                   ("numpy", lambda: reference.upsample_argmax(scores, up_hw))]))

    src = np.empty(max(c[1] for c in cases) // 2, np.uint8)
    dst = np.empty_like(src)
    print(f"# kernels: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, C kernels on {t} threads, "
          f"backend={kernels.BACKEND}, median of {args.runs} runs")
    print(f"{'kernel':<48} {'impl':<26} {'ms':>8} {'GB/s':>7} {'vs C':>7}")
    for name, nb, fn, others in cases:
        c_ms = median_ms(fn, args.runs)
        half = nb // 2
        copy_ms = median_ms(lambda half=half: np.copyto(dst[:half], src[:half]), args.runs)
        rows = [("C kernel", c_ms)] + [(label, median_ms(f, max(5, args.runs // 5))) for label, f in others]
        rows.append((f"memcpy of {nb / 1e6:.1f} MB (r+w)", copy_ms))
        for label, ms in rows:
            print(f"{name:<48} {label:<26} {ms:8.3f} {nb / ms / 1e6:7.2f} {ms / c_ms:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
