import subprocess
import sys


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "edgeseg", *args], capture_output=True, text=True)


def test_missing_model_is_one_line_exit_2(tmp_path):
    r = run_cli("eval", str(tmp_path / "nope.pt"), "--images", str(tmp_path), "--labels", str(tmp_path))
    assert r.returncode == 2
    assert "not found" in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_architecture(tmp_path):
    import torch
    torch.save({"arch": "resnet9000", "config": {}, "state_dict": {}}, tmp_path / "x.pt")
    r = run_cli("eval", str(tmp_path / "x.pt"), "--images", str(tmp_path), "--labels", str(tmp_path))
    assert r.returncode == 2 and "unknown architecture 'resnet9000'" in r.stderr and "Traceback" not in r.stderr


def test_corrupt_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    r = run_cli("eval", str(tmp_path / "x.pt"), "--images", str(tmp_path), "--labels", str(tmp_path))
    assert r.returncode == 2 and "cannot read checkpoint" in r.stderr and "Traceback" not in r.stderr


def test_refuses_to_train_on_test_split(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "testannot").mkdir()
    r = run_cli("train", "backbone", "--images", str(tmp_path / "test"), "--labels", str(tmp_path / "testannot"))
    assert r.returncode == 2 and "evaluation only" in r.stderr


def test_help_lists_verbs():
    r = run_cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout
