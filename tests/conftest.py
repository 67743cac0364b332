"""Shared test fixtures: the ../shared data location (tests that need it skip when absent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# The checkout's ../shared/data unless $EDGESEG_DATA says otherwise; exported for the CLI runs of the tests.
SHARED = Path(os.environ.get("EDGESEG_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
CAMVID = SHARED / "camvid"
if SHARED.is_dir():
    os.environ.setdefault("EDGESEG_DATA", str(SHARED))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny models: threads cost more than they give, and CI has 2 cores.
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture
def camvid() -> Path:
    if not (CAMVID / "train").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (../shared/data is absent on this machine)")
    return CAMVID


TINY_FRAMES = 10


def run_cli(*args, **kw):
    """``python -m edgeseg ARGS`` in a subprocess (real exit code and stderr)."""
    return subprocess.run([sys.executable, "-m", "edgeseg", *args], capture_output=True, text=True, **kw)


def tiny_options(root, out, **kw):
    from edgeseg.export.bundle import ExportOptions
    return ExportOptions(model=str(root / "model"), out=str(root / out), calib=str(root / "frames"), parity_frames=4,
                         calib_frames=4, progress=False, miou_images=str(root / "frames"),
                         miou_labels=str(root / "labels"), **kw)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """A tiny checkpoint set (random ICNet at 64x96 + heads) and frames of a camera panning over a texture."""
    import cv2
    import torch

    from edgeseg.models import build_model
    from edgeseg.models.checkpoint import save_checkpoint
    from edgeseg.train.common import camvid_meta
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
    base = cv2.GaussianBlur(rng.integers(0, 255, size=(64, 96 + 2 * TINY_FRAMES, 3)).astype(np.uint8), (5, 5), 0)
    for i in range(TINY_FRAMES):
        cv2.imwrite(str(root / "frames" / f"{i:03d}.png"), base[:, 2 * i:2 * i + 96])
    (root / "labels").mkdir()
    for i in range(TINY_FRAMES):
        cv2.imwrite(str(root / "labels" / f"{i:03d}.png"), rng.integers(0, 12, size=(64, 96)).astype(np.uint8))
    return root


@pytest.fixture(scope="session")
def tiny_set(tiny_root):
    """(root, fp32 bundle folder) of the tiny checkpoint set."""
    from edgeseg.export.bundle import export_bundle
    return tiny_root, export_bundle(tiny_options(tiny_root, "bundle"))
