import json
import platform
import shutil
import subprocess
import sys

import pytest

from tests.cli.test_failure_modes import foreign_bundle, one_line, static_onnx


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


# --- issue 30: what eval is given, and which graph it evaluated -------------------------------------------------

def eval_cli(model, root, *extra):
    return run_cli("eval", str(model), "--images", str(root / "frames"), "--labels", str(root / "labels"), "--no-progress", *extra)


@pytest.fixture(scope="module")
def int8_bundle(tiny_root, tmp_path_factory):
    """An int8 bundle of a one-conv foreign model: backbone.int8.onnx (TensorRT form) and its x86 twin."""
    folder = tmp_path_factory.mktemp("int8")
    # the gate is not what these tests are about: a random one-conv model sits near the int8 agreement threshold
    return foreign_bundle(tiny_root, static_onnx(folder), folder / "b", precision="int8", allow_parity_failure=True)


def test_an_onnx_file_given_to_eval_is_one_line_saying_to_export_it(tmp_path):
    model = static_onnx(tmp_path)
    r = run_cli("eval", str(model), "--images", str(tmp_path), "--labels", str(tmp_path))
    one_line(r, 2, f"{model} is an ONNX file, not an edgeseg checkpoint or bundle", f"edgeseg export {model}", "--classes")
    assert "weights_only" not in r.stderr and "Unpickl" not in r.stderr


def test_a_bundle_graph_or_manifest_given_as_a_checkpoint_names_the_bundle_folder(int8_bundle, tiny_root):
    for file in ("backbone.int8.onnx", "manifest.json"):
        one_line(eval_cli(int8_bundle / file, tiny_root), 2, f"pass the bundle folder {int8_bundle}")


def test_a_pickled_module_and_a_random_file_are_one_line(tmp_path, tiny_root):
    import torch
    torch.save(torch.nn.Conv2d(1, 1, 1), tmp_path / "module.pt")  # a whole module: weights_only refuses it
    one_line(eval_cli(tmp_path / "module.pt", tiny_root), 2, "pickled Python objects", "state_dict")
    (tmp_path / "random.pt").write_bytes(bytes(range(7, 200)))
    one_line(eval_cli(tmp_path / "random.pt", tiny_root), 2, "not a file torch.save wrote")
    (tmp_path / "torn.pt").write_bytes(b"PK\x03\x04" + b"\0" * 40)  # a zip torch cannot read: its first line only
    one_line(eval_cli(tmp_path / "torn.pt", tiny_root), 2, "cannot read checkpoint", "fully written")
    one_line(run_cli("export", str(tmp_path / "random.pt"), "--out", str(tmp_path / "b"), "--no-progress"), 2,
             "not a file torch.save wrote")


def evaluated(model, root, tmp_path, *extra):
    out = tmp_path / f"e{len(list(tmp_path.glob('e*.json')))}.json"
    r = eval_cli(model, root, "--json", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()[0], json.loads(out.read_text())


def test_eval_says_which_int8_graph_it_evaluated_and_evaluates_the_tensorrt_form_on_request(int8_bundle, tiny_root, tmp_path):
    line, result = evaluated(int8_bundle, tiny_root, tmp_path, "--variant", "tensorrt")
    assert result["evaluated"]["graph"] == "backbone.int8.onnx" and result["evaluated"]["variant"] == "tensorrt"
    assert line.startswith(f"evaluated {int8_bundle / 'backbone.int8.onnx'} (int8, TensorRT form") and "--variant ort_x86" in line
    line, result = evaluated(int8_bundle, tiny_root, tmp_path, "--variant", "ort_x86")
    assert result["evaluated"]["graph"] == "backbone.int8.ort-x86.onnx" and "--variant tensorrt evaluates" in line, line
    line, result = evaluated(int8_bundle, tiny_root, tmp_path, "--variant", "fp32")
    assert result["evaluated"]["graph"] == "backbone.onnx" and line.startswith(f"evaluated {int8_bundle / 'backbone.onnx'} (fp32)")
    if platform.machine().lower() in ("x86_64", "amd64"):  # auto: the x86 twin on an x86 CPU, and it says so
        line, result = evaluated(int8_bundle, tiny_root, tmp_path)
        assert result["evaluated"]["graph"] == "backbone.int8.ort-x86.onnx" and "--variant tensorrt" in line, line


def test_variant_tensorrt_really_runs_that_file(int8_bundle, tiny_root, tmp_path):
    """With the x86 twin damaged, --variant tensorrt still evaluates (it never opens the twin); the twin's variant fails."""
    copy = tmp_path / "b"
    shutil.copytree(int8_bundle, copy)
    twin = copy / "backbone.int8.ort-x86.onnx"
    twin.write_bytes(twin.read_bytes() + b"\0")
    assert eval_cli(copy, tiny_root, "--variant", "tensorrt").returncode == 0
    one_line(eval_cli(copy, tiny_root, "--variant", "ort_x86"), 2, "backbone.int8.ort-x86.onnx", "sha256")


def test_variant_a_bundle_lacks_or_on_a_checkpoint_is_one_line(tiny_set, tiny_root):
    one_line(eval_cli(tiny_set[1], tiny_root, "--variant", "ort_x86"), 2, "--variant ort_x86", "fp32", "drop --variant")
    one_line(eval_cli(tiny_root / "model", tiny_root, "--variant", "tensorrt"), 2, "--variant applies to bundles")
    one_line(eval_cli(tiny_set[1], tiny_root, "--downscale", "0.3"), 2, "--downscale 0.3", "D=1, 0.5")
