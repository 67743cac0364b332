"""A tiny checkpoint set (random ICNet at 64x96 + heads), frames of a panning texture, and its fp32 bundle."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from edgeseg.export.bundle import ExportOptions, export_bundle
from edgeseg.models import build_model
from edgeseg.models.checkpoint import save_checkpoint
from edgeseg.train.common import camvid_meta

FRAMES = 10


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeseg", *args], capture_output=True, text=True)


def tiny_options(root, out, **kw):
    return ExportOptions(model=str(root / "model"), out=str(root / out), calib=str(root / "frames"), parity_frames=4,
                         calib_frames=4, progress=False, miou_images=str(root / "frames"),
                         miou_labels=str(root / "labels"), **kw)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    meta = camvid_meta((64, 96))
    backbone = build_model("icnet", num_classes=11, width=0.25)
    save_checkpoint(root / "model" / "backbone.pt", backbone, "icnet", {"num_classes": 11, "width": 0.25}, meta)
    configs = {"refiner": {"width": 0.25, "feat_channels": backbone.feat_channels},
               "netwarp": {"feat_channels": backbone.feat_channels}, "stgru": {}, "gcrf": {}}
    for name, cfg in configs.items():
        save_checkpoint(root / "model" / f"{name}.pt", build_model(name, num_classes=11, **cfg), name,
                        {"num_classes": 11, **cfg}, meta)
    rng = np.random.default_rng(0)
    (root / "frames").mkdir()
    base = cv2.GaussianBlur(rng.integers(0, 255, size=(64, 96 + 2 * FRAMES, 3)).astype(np.uint8), (5, 5), 0)
    for i in range(FRAMES):  # a camera panning over a texture
        cv2.imwrite(str(root / "frames" / f"{i:03d}.png"), base[:, 2 * i:2 * i + 96])
    (root / "labels").mkdir()
    for i in range(FRAMES):
        cv2.imwrite(str(root / "labels" / f"{i:03d}.png"), rng.integers(0, 12, size=(64, 96)).astype(np.uint8))
    return root


@pytest.fixture(scope="session")
def tiny_set(tiny_root):
    return tiny_root, export_bundle(tiny_options(tiny_root, "bundle"))
