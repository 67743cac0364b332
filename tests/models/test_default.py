"""The default model ships inside the package: every checkpoint loads by the name `default`."""

import json
import subprocess
import sys

from edgeseg.models.checkpoint import DEFAULT_DIR, load_checkpoint, load_heads, resolve_model_dir
from edgeseg.runtime.fusion import head_names


def test_default_set_is_complete_and_small():
    backbone, folder = resolve_model_dir("default")
    assert folder == DEFAULT_DIR
    model, ckpt = load_checkpoint(backbone)
    assert ckpt["arch"] == "icnet" and ckpt["input_size"] == [480, 640] and len(ckpt["class_names"]) == 11
    heads = load_heads(folder)
    assert set(heads) == set(head_names())
    total = sum(p.stat().st_size for p in DEFAULT_DIR.glob("*.pt"))
    assert total <= 25 * 2**20, f"default weights are {total / 2**20:.1f} MiB (limit 25)"


def test_default_reaches_the_bar_on_camvid_test(camvid, tmp_path):
    r = subprocess.run([sys.executable, "-m", "edgeseg", "eval", "default", "--images", str(camvid / "test"),
                        "--labels", str(camvid / "testannot"), "--json", str(tmp_path / "r.json"), "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["frames"] == 233
    assert result["miou"] >= 50.0, result
