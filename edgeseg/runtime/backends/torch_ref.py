"""Reference backend: runs the bundle's source checkpoints with PyTorch (CUDA when available).

Used to check a bundle against the model it came from and, on a desktop GPU without a GPU build of
ONNX Runtime or TensorRT, as a fast backend. torch is imported lazily: the runtime stays torch-free.
The checkpoints are the ones the manifest names, verified by sha256, so a retrained checkpoint at the
same path is refused rather than silently run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeseg._lazy import lazy_import
from edgeseg.runtime.bundle import Bundle, BundleError, sha256_file


def import_torch() -> Any:
    return lazy_import("torch", "pip install 'edgeseg[train]' for the torch backend, or pick --backend onnxrt")


def torch_device(torch: Any, device: str | None = None) -> Any:
    """``device`` or the best one present: CUDA, else CPU. A reference computes in full fp32: TF32 off."""
    chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if chosen.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest exact kernels once
    return chosen


def source_checkpoint(bundle: Bundle, role: str) -> Path:
    """The checkpoint a graph of ``role`` was exported from, checked against the manifest's sha256."""
    source = bundle.manifest.source
    heads = source.get("heads", {})
    if role == "backbone":
        record = {"checkpoint": source.get("checkpoint"), "sha256": source.get("sha256")}
    elif role in heads:
        record = heads[role]
    else:  # bundles made before the manifest listed head checkpoints: the head sits beside the backbone
        record = {"checkpoint": str(Path(str(source.get("checkpoint"))).parent / f"{role}.pt"), "sha256": None}
    path = Path(str(record["checkpoint"]))
    if not path.is_file():
        raise BundleError(f"the torch backend runs the source checkpoint {path}, which is not on this machine; "
                          "use --backend onnxrt, or export the bundle here")
    if record.get("sha256") and sha256_file(path) != record["sha256"]:
        raise BundleError(f"{path} changed since {bundle.root} was exported (sha256 differs); "
                          "re-export the bundle or use --backend onnxrt")
    return path


class TorchEngine:
    """``infer({input name: array}) -> {output name: array}`` over one graph's source module."""

    def __init__(self, bundle: Bundle, key: str, device: str | None = None, threads: int | None = None):
        torch = self.torch = import_torch()
        from edgeseg.models.checkpoint import load_checkpoint

        if key not in bundle.graphs:
            raise BundleError(f"bundle {bundle.root} has no graph {key!r}")
        entry = bundle.graphs[key]
        if threads:
            torch.set_num_threads(threads)
        self.device = torch_device(torch, device)
        module, _ = load_checkpoint(source_checkpoint(bundle, entry.role))
        self.module = module.eval().to(self.device)
        self.inputs = entry.shapes
        self.output_names = [o.name for o in entry.outputs]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feed[name])).to(self.device, non_blocking=True)
                    for name in self.inputs]
            out = self.module(*args)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            return {name: t.float().cpu().numpy() for name, t in zip(self.output_names, outs)}
