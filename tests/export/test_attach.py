"""Heads on top of any bundle: trained against a foreign backbone graph run by ONNX Runtime, attached to a copy
of the bundle with their parity gates, then run under the R, grfp and gcrf operating points."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeseg.bundle import load_bundle
from edgeseg.cli.main import main
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.export.bundle import export_bundle
from edgeseg.models.checkpoint import load_checkpoint
from edgeseg.profiles import load_profile
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.train.heads import HeadConfig, train_head
from tests.export.foreign_models import BgrRawNet, to_onnx
from tests.export.test_foreign import options


@pytest.fixture(scope="module")
def foreign_with_heads(tiny_root, tmp_path_factory):
    """A foreign ONNX bundle (BGR 0..255, scores at stride 8), heads trained on it, and the bundle with them attached."""
    tmp = tmp_path_factory.mktemp("attach")
    onnx_file = to_onnx(BgrRawNet(), torch.zeros(1, 3, 64, 96), tmp / "bgr.onnx", ["aux", "seg"])
    raw = dict(channels="bgr", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    bundle = export_bundle(options(tiny_root, str(onnx_file), tmp / "bundle", output="seg", **raw))
    for head in ("refiner", "stgru", "gcrf"):
        train_head(HeadConfig(head=head, backbone=str(bundle), images=str(tiny_root / "frames"), labels=str(tiny_root / "labels"),
                              out=str(tmp / "heads"), clips=2, frames=3, epochs=1, batch=2, threads=1))
    full = export_bundle(options(tiny_root, str(bundle), tmp / "full", classes=None, heads_from=str(tmp / "heads")))
    return tmp, bundle, full


def test_heads_train_on_a_bundle_backbone_and_the_refiner_needs_no_features(foreign_with_heads):
    tmp, bundle, _ = foreign_with_heads
    model, ckpt = load_checkpoint(tmp / "heads" / "refiner.pt")
    assert model.feat_channels == 0 and ckpt["input_size"] == [64, 96]
    assert ckpt["bundle"] == str(bundle.resolve())


def test_attached_heads_are_gated_and_run_the_r_grfp_and_gcrf_points(foreign_with_heads, tiny_root):
    _, bundle, full = foreign_with_heads
    m = load_bundle(full).manifest
    assert set(m.graphs) == {"backbone", "pre", "post", "refiner", "stgru", "gcrf"}  # the heads added, the rest copied
    assert [i.name for i in m.graphs["refiner"].inputs] == ["image", "warped_probs"]
    assert m.graphs["backbone"].sha256 == load_bundle(bundle).manifest.graphs["backbone"].sha256  # copied unchanged
    parity = json.loads((full / "parity.json").read_text())
    assert {"backbone", "refiner", "stgru", "gcrf"} <= set(parity) and all(parity[h]["passed"] for h in ("refiner", "stgru", "gcrf"))
    frames = [read_rgb(p) for p in list_images(tiny_root / "frames")]
    frames[2] = frames[2][::-1, ::-1].copy()  # a jump the flow cannot follow: the IAM mask is set on the next frames
    for profile in ("evs06", "grfp", "gcrf"):
        with Pipeline(load_bundle(full), load_profile(profile)) as pipe:
            outs = [pipe.process(f) for f in frames]
        assert all(o.labels.shape == frames[0].shape[:2] and o.labels.dtype == np.uint8 for o in outs)
        if profile == "evs06":
            assert sum(o.refined_pixels for o in outs) > 0  # the refiner ran where the IAM mask was set


def test_netwarp_and_mismatched_heads_are_refused(foreign_with_heads, tiny_root, capsys):
    tmp, bundle, _ = foreign_with_heads
    rc = main(["train", "netwarp", "--backbone", str(bundle), "--images", str(tiny_root / "frames"), "--labels",
               str(tiny_root / "labels"), "--out", str(tmp / "nw"), "--clips", "1", "--frames", "2", "--epochs", "1"])
    assert rc == 2 and "netwarp" in capsys.readouterr().err.lower()
    rc = main(["export", str(bundle), "--out", str(tmp / "x"), "--heads-from", str(tiny_root / "model"), "--calib",
               str(tiny_root / "frames"), "--no-progress"])  # the tiny ICNet's heads take its features
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and not (tmp / "x").exists()
