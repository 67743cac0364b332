"""Tiny end-to-end training runs: real loops, real checkpoints, real DIS flow, tiny data."""

import json

import pytest
import torch

from edgeseg.cli.main import main
from edgeseg.models.checkpoint import load_checkpoint
from edgeseg.train.backbone import BackboneConfig, train_backbone
from edgeseg.train.heads import RECIPES, HeadConfig, train_head


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    import cv2
    import numpy as np
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for i in range(4):
        lab = np.kron(rng.integers(0, 4, size=(4, 6)), np.ones((16, 16), np.int64)).astype(np.uint8)
        img = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]], np.uint8)[lab]
        cv2.imwrite(str(root / "images" / f"f{i}.png"), img)
        cv2.imwrite(str(root / "labels" / f"f{i}.png"), lab)
    cfg = BackboneConfig(images=str(root / "images"), labels=str(root / "labels"), out=str(root / "run"),
                         epochs=2, batch=2, crop=(64, 64), width=0.25, threads=1)
    return root, train_backbone(cfg)


def test_backbone_checkpoint_is_complete_and_resumable(tiny_backbone):
    root, path = tiny_backbone
    model, ckpt = load_checkpoint(path)
    for key in ("arch", "config", "class_names", "palette", "ignore_id", "mean", "std", "input_size", "state_dict"):
        assert key in ckpt
    assert ckpt["arch"] == "icnet" and len(ckpt["class_names"]) == 11 and ckpt["trained_epochs"] == 2
    assert (root / "run" / "last.pt").is_file()
    from edgeseg._fs import default_mode
    assert path.stat().st_mode & 0o777 == default_mode()  # atomic writes keep the usual permissions
    # Asking for the same number of epochs again resumes at the end and trains nothing more.
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again, _ = load_checkpoint(train_backbone(BackboneConfig(images=str(root / "images"), labels=str(root / "labels"),
                                                             out=str(root / "run"), epochs=2, batch=2, crop=(64, 64),
                                                             width=0.25, threads=1)))
    assert all(torch.equal(before[k], v) for k, v in again.state_dict().items())


@pytest.mark.parametrize("head", list(RECIPES))
def test_head_trains_on_synthetic_clips(tiny_backbone, head):
    root, path = tiny_backbone
    out = train_head(HeadConfig(head=head, backbone=str(path), images=str(root / "images"), labels=str(root / "labels"),
                                out=str(root / "heads"), clips=2, frames=3, epochs=1, batch=2, threads=1))
    model, ckpt = load_checkpoint(out)
    assert ckpt["arch"] == head and ckpt["class_names"] == load_checkpoint(path)[1]["class_names"]


def test_eval_cli_writes_json(tiny_backbone, tmp_path, capsys):
    root, path = tiny_backbone
    rc = main(["eval", str(path), "--images", str(root / "images"), "--labels", str(root / "labels"),
               "--size", "64x96", "--json", str(tmp_path / "r.json"), "--no-progress"])
    assert rc == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert 0 <= result["miou"] <= 100 and result["frames"] == 4 and set(result["per_class"]) >= {"Sky", "Road"}
    assert "mIoU" in capsys.readouterr().out
