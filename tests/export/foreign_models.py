"""Models edgeseg did not build, for the foreign-export tests: factories an import spec can name, and small
ONNX graphs in the forms other frameworks write (NHWC, BGR 0..255 with normalisation inside, labels only)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F


def import_torchvision():
    """torchvision, importable next to the CPU build of torch.

    PyPI's torchvision 0.28.0 wheel links CUDA torch, so its C ops (nms, roi_align, ...) cannot load next to
    torch 2.13.0+cpu and ``import torchvision`` fails registering their meta kernels. The segmentation models
    use none of them: declaring the op names first lets the pure-Python package import.
    """
    try:
        import torchvision
        return torchvision
    except RuntimeError:
        pass
    import importlib.util
    spec = importlib.util.find_spec("torchvision")
    assert spec is not None and spec.submodule_search_locations
    meta = Path(next(iter(spec.submodule_search_locations))) / "_meta_registrations.py"
    names = set(re.findall(r'register_meta\("(\w+)"', meta.read_text())) | set(re.findall(r'"torchvision::(\w+)"', meta.read_text()))
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name in sorted(names):
        try:
            lib.define(f"{name}(Tensor x) -> Tensor")
        except RuntimeError:
            pass  # already declared
    import_torchvision.lib = lib  # type: ignore[attr-defined]  # keep the declarations alive
    import sys
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]
    import torchvision
    return torchvision


def tiny_segformer(num_labels: int = 11):
    """A randomly initialised SegFormer from a tiny config (scores at 1/4 of the input, Hugging Face ``.logits``)."""
    import_torchvision()  # transformers and timm import torchvision when it is installed
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    torch.manual_seed(0)
    config = SegformerConfig(num_labels=num_labels, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=16)
    return SegformerForSemanticSegmentation(config)


class NhwcNet(torch.nn.Module):
    """NHWC in, NHWC scores at stride 2 out (as tf2onnx writes TensorFlow models)."""

    def __init__(self, classes: int = 11):
        super().__init__()
        torch.manual_seed(1)
        self.a = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.b = torch.nn.Conv2d(8, classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.relu(self.a(x.permute(0, 3, 1, 2)))).permute(0, 2, 3, 1)


class BgrRawNet(torch.nn.Module):
    """BGR 0..255 in, normalisation inside; outputs (aux scores at stride 4, scores at stride 8)."""

    def __init__(self, classes: int = 11):
        super().__init__()
        torch.manual_seed(2)
        self.register_buffer("mean", torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1))
        self.a = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.b = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.aux = torch.nn.Conv2d(8, classes, 1)
        self.head = torch.nn.Conv2d(16, classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.relu(self.a((x - self.mean) / 58.0))
        return self.aux(a), self.head(F.relu(self.b(a)))


class LabelsNet(torch.nn.Module):
    """Argmax inside: int64 labels at stride 4 (a model exported for deployment)."""

    def __init__(self, classes: int = 11):
        super().__init__()
        torch.manual_seed(3)
        self.a = torch.nn.Conv2d(3, classes, 5, stride=4, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x).argmax(1)


def to_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, outputs: list[str], dynamic: bool = False) -> Path:
    """Export as a framework would (the legacy TorchScript exporter, optionally with dynamic H and W)."""
    axes = None
    if dynamic:
        spatial = (1, 2) if example.shape[-1] == 3 else (2, 3)
        axes = {"input": {spatial[0]: "height", spatial[1]: "width"}}
    torch.onnx.export(module.eval(), (example,), str(path), input_names=["input"], output_names=outputs, opset_version=17,
                      dynamo=False, dynamic_axes=axes)
    return path
