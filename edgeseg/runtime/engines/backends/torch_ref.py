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
from edgeseg.bundle import Bundle, BundleError, sha256_file
from edgeseg.bundle.manifest import RESIZE_LINEAR
from edgeseg.runtime.engines.network_io import KeyOutput, NetworkIO


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


def open_graph(bundle: Bundle, key: str, threads: int | None, engine_cache: str | Path | None, spinning: bool,
               variant: str | None) -> TorchEngine:
    """Graph ``key`` of ``bundle`` as its source module in PyTorch."""
    return TorchEngine(bundle, key, threads=threads)


class TorchEngine:
    """``infer({input name: array}) -> {output name: array}`` over one graph's source module.

    A backbone on CUDA also does whole keyframes on the GPU (``keyframe``, ``DeviceKeyframes``): the frame goes up
    once as uint8 through a pinned buffer; resize, normalisation, upsampling and argmax run there and uint8 labels
    come back; scores and features stay there unless refinement needs them. ``device_keyframes`` forces it on or
    off (tests run it on the CPU).
    """

    backend = "torch"

    def __init__(self, bundle: Bundle, key: str, device: str | None = None, threads: int | None = None,
                 device_keyframes: bool | None = None):
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
        on_gpu = self.device.type == "cuda" and entry.role == "backbone"
        self.device_keyframes = on_gpu if device_keyframes is None else device_keyframes
        self._pinned: Any = None

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feed[name])).to(self.device, non_blocking=True)
                    for name in self.inputs]
            out = self.module(*args)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            return {name: t.float().cpu().numpy() for name, t in zip(self.output_names, outs)}

    def keyframe(self, rgb: np.ndarray, io: NetworkIO, keep: bool) -> KeyOutput | None:
        """A keyframe run on the device (``DeviceKeyframes``); None where the bundle's model is not one this does
        (labels outputs, NHWC, uint8 inputs: the host path runs them).

        The same steps as the host path, on the device: OpenCV's resize becomes area averaging when shrinking
        (adaptive average pooling: equal for whole ratios) and bilinear otherwise, rounded to whole pixel values as
        OpenCV's uint8 resize is; normalisation is the same float32 arithmetic; upsampling is bilinear with half-pixel
        centres and argmax takes the first maximal class, as ``kernels.upsample_argmax`` does.
        """
        spec, out = io.input, io.output
        if not self.device_keyframes or out.kind != "scores" or out.layout != "NCHW" or spec.layout != "NCHW" \
                or spec.dtype != "float32" or rgb.dtype != np.uint8:
            return None
        torch = self.torch
        F = torch.nn.functional
        with torch.inference_mode():
            x = self._upload(rgb).permute(2, 0, 1)[None].float()
            if spec.channels == "bgr":
                x = x.flip(1)
            h, w = io.size
            if (h, w) != rgb.shape[:2]:
                shrink = h < rgb.shape[0] and spec.resize != RESIZE_LINEAR
                x = F.adaptive_avg_pool2d(x, (h, w)) if shrink else F.interpolate(x, size=(h, w), mode="bilinear",
                                                                                   align_corners=False)
                x = x.round_()
            if spec.scale != 1.0:
                x = x * float(np.float32(1.0 / spec.scale))
            x = (x - torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1)) \
                / torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1)
            outs = self.module(x)
            named = dict(zip(self.output_names, outs if isinstance(outs, (tuple, list)) else (outs,)))
            scores = named[out.name].float()
            up = F.interpolate(scores, size=rgb.shape[:2], mode="bilinear", align_corners=False)
            labels = up.argmax(1)[0].to(torch.uint8).cpu().numpy()
            if not keep:
                return KeyOutput(None, None, None, frame_labels=labels)
            feats = named[io.features][0].float().cpu().numpy() if io.features else None
            return KeyOutput(np.ascontiguousarray(scores[0].cpu().numpy()), None, feats, frame_labels=labels)

    def _upload(self, rgb: np.ndarray) -> Any:
        """The frame on the device: through a pinned host buffer (reused per frame size) on CUDA."""
        torch = self.torch
        if self.device.type != "cuda":
            return torch.from_numpy(np.ascontiguousarray(rgb))
        if self._pinned is None or tuple(self._pinned.shape) != rgb.shape:
            self._pinned = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
        self._pinned.numpy()[...] = rgb
        return self._pinned.to(self.device, non_blocking=True)
