"""The parity gate: torch vs ONNX Runtime on real feeds; max/mean abs difference and argmax agreement."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort
import torch

THRESHOLDS = {"fp32": 99.99, "fp16": 99.5, "int8": 98.0}  # pixel agreement, percent
MAX_MIOU_DROP = {"int8": 1.0}  # backbone mIoU points lost against torch fp32 on the labelled check set


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
    fallback: str | None = None  # set when a head fell back to fp32
    variants: dict[str, Parity] = field(default_factory=dict)  # e.g. the x86 ONNX Runtime int8 twin

    @property
    def failure(self) -> str | None:
        """Why this graph (or one of its variants) failed its gate; None when it passed."""
        if not self.passed:
            if self.pixel_agreement < self.threshold:
                return f"agreement {self.pixel_agreement:.3f}% < {self.threshold}%"
            return f"mIoU {self.miou:.2f}% is more than {MAX_MIOU_DROP[self.precision]} below fp32 {self.miou_fp32:.2f}%"
        for name, v in self.variants.items():
            if v.failure:
                return f"{name}: {v.failure}"
        return None

    @property
    def all_passed(self) -> bool:
        return self.failure is None

    def set_miou(self, miou: float) -> None:
        """Record the bundle's mIoU; precisions with a maximum drop fail when it is exceeded."""
        self.miou = miou
        limit = MAX_MIOU_DROP.get(self.precision)
        if limit is not None and self.miou_fp32 is not None and self.miou_fp32 - miou > limit:
            self.passed = False

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "variants"}
        out["variants"] = {k: v.to_json() for k, v in self.variants.items()}
        return out


def ort_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


Reference = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def torch_reference(module: torch.nn.Module, input_names: list[str]) -> Reference:
    """A torch module as a parity reference: feed -> its outputs as arrays."""
    @torch.no_grad()
    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = module(*(torch.from_numpy(feed[n]) for n in input_names))
        return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    return run


def class_map(out: np.ndarray, kind: str = "scores", layout: str = "NCHW") -> np.ndarray:
    """The classes an output says per pixel: argmax over its class axis, or the label map itself."""
    if kind == "labels":
        return np.squeeze(out).astype(np.int64)
    return out.argmax(1 if layout == "NCHW" else -1)


def measure(reference: Reference, session: ort.InferenceSession, feeds: list[dict[str, np.ndarray]],
            input_names: list[str], precision: str, kind: str = "scores", layout: str = "NCHW") -> Parity:
    """Compare every output on every feed; agreement is on the classes of the first output (``class_map``)."""
    max_abs, abs_sum, count, agree, pixels = 0.0, 0.0, 0, 0, 0
    for feed in feeds:
        ref_list = reference(feed)
        got = session.run(None, {n: feed[n] for n in input_names})
        for r, g in zip(ref_list, got):
            d = np.abs(r.astype(np.float64) - g.astype(np.float64))
            max_abs = max(max_abs, float(d.max()))
            abs_sum += float(d.sum())
            count += d.size
        want, have = class_map(ref_list[0], kind, layout), class_map(got[0], kind, layout)
        agree += int((want == have).sum())
        pixels += want.size
    pct = 100.0 * agree / max(pixels, 1)
    return Parity(precision, max_abs, abs_sum / max(count, 1), round(pct, 4), len(feeds), THRESHOLDS[precision],
                  pct >= THRESHOLDS[precision])
