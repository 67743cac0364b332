"""Export a tiny checkpoint set to a real ONNX bundle and check it with ONNX Runtime."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from edgeseg.bundle import BundleError, load_bundle
from edgeseg.export.parity import measure, ort_session, torch_reference
from tests.conftest import run_cli


def test_bundle_contents(tiny_set):
    root, bundle = tiny_set
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["graphs"]) == {"backbone", "backbone@0.5", "refiner", "stgru", "netwarp", "gcrf", "pre", "pre@0.5", "post"}
    assert manifest["format_version"] == 2 and manifest["classes"]["ignore_id"] == 11
    # what a third party needs to reproduce the labels (DESIGN.md "Bundle manifest")
    assert manifest["input"] == {"size": [64, 96], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                 "layout": "NCHW", "channels": "rgb", "scale": 255.0, "resize": "cv2:area-down,linear-up",
                                 "name": "image", "dtype": "float32"}
    assert manifest["output"] == {"name": "logits", "kind": "scores", "stride": 4, "upsample": "bilinear-half-pixel",
                                  "layout": "NCHW", "features": "feats"}
    bb = manifest["graphs"]["backbone"]
    assert bb["inputs"] == [{"name": "image", "shape": [1, 3, 64, 96], "dtype": "float32"}]
    assert [o["name"] for o in bb["outputs"]] == ["logits", "feats"]
    assert manifest["graphs"]["backbone@0.5"]["inputs"][0]["shape"] == [1, 3, 32, 48]
    for entry in manifest["graphs"].values():
        model = onnx.load(str(bundle / entry["file"]))
        onnx.checker.check_model(model)
        ops = {n.op_type for n in model.graph.node}
        assert not ops & {"Loop", "Scan", "If"}
        if entry["role"] in ("stgru", "netwarp"):
            assert "GridSample" in ops
    parity = json.loads((bundle / "parity.json").read_text())
    assert all(p["passed"] and p["pixel_agreement"] >= 99.99 for k, p in parity.items() if k != "tensorrt_check")
    assert all(v["passed"] for v in parity["tensorrt_check"].values()) and set(parity["tensorrt_check"]) == {"10.3", "10.13", "11"}
    assert parity["backbone"]["miou"] == parity["backbone"]["miou_fp32"]
    assert not list(root.glob(".bundle*"))  # no temporary folder left


def test_parity_gate_detects_a_different_model(tiny_set):
    root, bundle = tiny_set
    from edgeseg.models.checkpoint import load_checkpoint
    stgru, _ = load_checkpoint(root / "model" / "stgru.pt")
    with torch.no_grad():
        stgru.w_xh.weight.mul_(-1.0)  # no longer the exported function
    L, q = 11, (16, 24)
    feeds = [{"x": np.random.default_rng(i).normal(size=(1, L, *q)).astype(np.float32),
              "h_prev": np.random.default_rng(i + 9).normal(size=(1, L, *q)).astype(np.float32),
              "image": np.zeros((1, 3, *q), np.float32), "image_prev": np.zeros((1, 3, *q), np.float32),
              "flow": np.zeros((1, 2, *q), np.float32)} for i in range(2)]
    names = ["x", "h_prev", "image", "image_prev", "flow"]
    result = measure(torch_reference(stgru, names), ort_session(bundle / "stgru.onnx"), feeds, names, "fp32")
    assert not result.passed and result.max_abs_diff > 1e-2


def test_eval_on_bundle(tiny_set, tmp_path):
    root, bundle = tiny_set
    r = run_cli("eval", str(bundle), "--images", str(root / "frames"), "--labels", str(root / "labels"),
                "--json", str(tmp_path / "r.json"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["frames"] == 10


def copy_bundle(bundle, dest):
    import shutil
    shutil.copytree(bundle, dest)
    return dest


def test_modified_graph_is_refused(tiny_set, tmp_path):
    root, bundle = tiny_set
    b = copy_bundle(bundle, tmp_path / "b")
    data = (b / "backbone.onnx").read_bytes()
    (b / "backbone.onnx").write_bytes(data[: len(data) // 2])  # truncated
    r = run_cli("eval", str(b), "--images", str(root / "frames"), "--labels", str(root / "labels"))
    assert r.returncode == 2 and "sha256" in r.stderr and "Traceback" not in r.stderr


def test_newer_manifest_is_refused(tiny_set, tmp_path):
    _, bundle = tiny_set
    b = copy_bundle(bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["format_version"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format version 99"):
        load_bundle(b)


def test_failed_export_leaves_nothing(tiny_set, tmp_path):
    root, _ = tiny_set
    r = run_cli("export", str(root / "model"), "--out", str(tmp_path / "out"), "--calib", str(tmp_path / "nothing"),
                "--no-progress")
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_head_checkpoint(tiny_set, tmp_path):
    root, _ = tiny_set
    import shutil
    shutil.copy(root / "model" / "backbone.pt", tmp_path / "backbone.pt")
    r = run_cli("export", str(tmp_path / "backbone.pt"), "--out", str(tmp_path / "out"), "--heads", "refiner",
                "--calib", str(root / "frames"), "--no-progress")
    assert r.returncode == 2 and "refiner" in r.stderr and not (tmp_path / "out").exists()


def test_eval_on_bundle_needs_no_torch(tiny_set):
    root, bundle = tiny_set
    code = ("import sys; from edgeseg.cli.main import main; "
            f"rc = main(['eval', {str(bundle)!r}, '--images', {str(root / 'frames')!r}, '--labels', "
            f"{str(root / 'labels')!r}, '--no-progress']); sys.exit(rc or 10 * ('torch' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_checkpoint_folder_without_every_head_exports_what_it_has(tiny_root, tmp_path):
    """Registering a head must not stop an existing checkpoint folder from exporting (its default is 'every head
    found'); a head asked for by name must be there."""
    import shutil

    from edgeseg.errors import UsageError
    from edgeseg.export.bundle import export_bundle
    from tests.conftest import tiny_options
    folder = tmp_path / "ckpts"
    folder.mkdir()
    for name in ("backbone.pt", "refiner.pt"):
        shutil.copy(tiny_root / "model" / name, folder / name)
    opts = tiny_options(tiny_root, str(tmp_path / "b"), downscales=(1.0,))
    bundle = export_bundle(type(opts)(**{**opts.__dict__, "model": str(folder)}))
    assert {k for k in json.loads((bundle / "manifest.json").read_text())["graphs"] if k in ("refiner", "stgru")} == {"refiner"}
    with pytest.raises(UsageError, match="stgru"):
        export_bundle(type(opts)(**{**opts.__dict__, "model": str(folder), "heads": ("refiner", "stgru"),
                                    "out": str(tmp_path / "c")}))
