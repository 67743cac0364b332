"""The parity gate: torch vs ONNX Runtime on real feeds; max/mean abs difference and argmax agreement."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

THRESHOLDS = {"fp32": 99.99, "fp16": 99.5, "int8": 98.0}  # pixel agreement, percent


@dataclass
class Parity:
    precision: str
    max_abs_diff: float
    mean_abs_diff: float
    pixel_agreement: float  # percent of argmax (class) agreement on the first output
    frames: int
    threshold: float
    passed: bool
    miou_fp32: float | None = None
    miou: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ort_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@torch.no_grad()
def measure(module: torch.nn.Module, session: ort.InferenceSession, feeds: list[dict[str, np.ndarray]],
            input_names: list[str], precision: str) -> Parity:
    """Compare every output on every feed; agreement is on the first output's argmax over channels."""
    max_abs, abs_sum, count, agree, pixels = 0.0, 0.0, 0, 0, 0
    for feed in feeds:
        ref = module(*(torch.from_numpy(feed[n]) for n in input_names))
        ref_list = [t.numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]
        got = session.run(None, {n: feed[n] for n in input_names})
        for r, g in zip(ref_list, got):
            d = np.abs(r.astype(np.float64) - g.astype(np.float64))
            max_abs = max(max_abs, float(d.max()))
            abs_sum += float(d.sum())
            count += d.size
        agree += int((ref_list[0].argmax(1) == got[0].argmax(1)).sum())
        pixels += ref_list[0].argmax(1).size
    pct = 100.0 * agree / max(pixels, 1)
    return Parity(precision, max_abs, abs_sum / max(count, 1), round(pct, 4), len(feeds), THRESHOLDS[precision],
                  pct >= THRESHOLDS[precision])
