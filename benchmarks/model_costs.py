"""Cost of each model of a checkpoint set: parameters, FLOPs and CPU latency, backbone as the baseline.

FLOPs are counted by torch.utils.flop_counter (exact for convs/matmuls; deterministic); latency is the
median of --runs timed forwards after warm-up, all in the same run, so the ratios are comparable.

    python benchmarks/model_costs.py [--model default] [--runs 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeseg.models.checkpoint import load_checkpoint, load_heads, resolve_model_dir


def inputs_for(name: str, model: torch.nn.Module, h: int, w: int, L: int, c: int) -> tuple[torch.Tensor, ...]:
    q, e = (h // 4, w // 4), (h // 8, w // 8)
    if name == "backbone":
        return (torch.randn(1, 3, h, w),)
    if name == "refiner":
        return torch.randn(1, 3, h, w), torch.randn(1, c, *e), torch.softmax(torch.randn(1, L, *q), 1)
    if name == "stgru":
        return torch.randn(1, L, *q), torch.randn(1, L, *q), torch.randn(1, 3, *q), torch.randn(1, 3, *q), torch.randn(1, 2, *q)
    if name == "netwarp":
        return torch.randn(1, c, *e), torch.randn(1, c, *e), torch.randn(1, 3, *e), torch.randn(1, 3, *e), torch.randn(1, 2, *e)
    v = model.frames
    return torch.randn(v, L, *q), torch.randn(v, 3, *q)


@torch.no_grad()
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path, folder = resolve_model_dir(args.model)
    backbone, ckpt = load_checkpoint(path)
    models = {"backbone": backbone, **{k: v[0] for k, v in load_heads(folder).items()}}
    h, w = ckpt["input_size"]
    L, c = len(ckpt["class_names"]), backbone.feat_channels
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}; input {h}x{w}")
    rows = []
    for name, m in models.items():
        x = inputs_for(name, m, h, w, L, c)
        with FlopCounterMode(display=False) as fc:
            m(*x)
        for _ in range(3):
            m(*x)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            m(*x)
            times.append(time.perf_counter() - t)
        rows.append((name, sum(p.numel() for p in m.parameters()), fc.get_total_flops(), statistics.median(times) * 1e3))
    base_flops, base_ms = rows[0][2], rows[0][3]
    print(f"{'model':<9} {'params':>9} {'GFLOPs':>8} {'vs backbone':>11} {'ms (median)':>12} {'vs backbone':>11}")
    for name, n, f, ms in rows:
        print(f"{name:<9} {n / 1e6:8.2f}M {f / 1e9:8.3f} {f / base_flops:10.2f}x {ms:12.2f} {ms / base_ms:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
