"""Issue 6: every bad input gets one clear line, the right exit code (2: the user's input, 1: a run-time
failure) and leaves nothing partial behind; signals end runs and exports cleanly. One test per case."""

import json
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import run_cli


def one_line(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for needle in needles:
        assert needle in r.stderr, (needle, r.stderr)


def write_clip(path, frames=20, size=(96, 64), fps=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (size[1], size[0] + 2 * frames, 3)).astype(np.uint8), (5, 5), 0)
    for i in range(frames):
        writer.write(np.ascontiguousarray(base[:, 2 * i:2 * i + size[0]]))
    writer.release()
    return path


def default_signals():
    """Child processes get default SIGINT handling even when this test runs as a background job (which
    inherits SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def frame_count(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.avi")


@pytest.fixture
def bundle_copy(tiny_set, tmp_path):
    dest = tmp_path / "bundle"
    shutil.copytree(tiny_set[1], dest)
    return dest


def run(bundle, source, out_dir, *extra):
    """edgeseg run into OUT_DIR/out.mp4 with stats; returns the process result."""
    return run_cli("run", "--bundle", str(bundle), "--source", str(source), "--sink", str(out_dir / "out.mp4"),
                   "--stats", str(out_dir / "stats.json"), "--quiet", *extra)


def nothing_written(folder):
    assert not folder.exists() or list(folder.iterdir()) == [], list(folder.iterdir())


# --- models and exports ------------------------------------------------------------------------

def test_model_path_missing(tmp_path):
    r = run_cli("export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "out" / "b"), "--no-progress")
    one_line(r, 2, "nope.pt", "not found")
    nothing_written(tmp_path / "out")


def test_checkpoint_of_an_unknown_architecture(tmp_path):
    import torch
    torch.save({"arch": "resnet9000", "config": {}, "state_dict": {}}, tmp_path / "x.pt")
    r = run_cli("export", str(tmp_path / "x.pt"), "--out", str(tmp_path / "out" / "b"), "--no-progress")
    one_line(r, 2, "unknown architecture 'resnet9000'")
    nothing_written(tmp_path / "out")


def test_export_interrupted_midway_leaves_no_bundle(tiny_root, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # int8: calibration and a second gate per graph keep the export busy for a while after it starts
        proc = subprocess.Popen([sys.executable, "-m", "edgeseg", "export", str(tiny_root / "model"), "--out", str(out / "b"),
                                 "--calib", str(tiny_root / "frames"), "--parity-frames", "4", "--precision", "int8",
                                 "--calib-frames", "4", "--no-progress"], stderr=subprocess.PIPE, text=True,
                                preexec_fn=default_signals)
        deadline = time.time() + 60
        while not list(out.glob(".b.*.partial")) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)  # the bundle is being assembled in its temporary folder
        time.sleep(1.0)
        assert proc.poll() is None, f"the export ended before it could be interrupted: {proc.stderr.read()}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
        nothing_written(out)


# --- bundles ------------------------------------------------------------------------------------

def test_truncated_onnx_in_a_bundle(bundle_copy, clip, tmp_path):
    graph = bundle_copy / "backbone.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])
    one_line(run(bundle_copy, clip, tmp_path), 2, "backbone.onnx", "sha256")
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "stats.json").exists()


def test_corrupt_onnx_whose_manifest_was_updated(bundle_copy, clip, tmp_path):
    from edgeseg.bundle import sha256_file
    graph = bundle_copy / "backbone.onnx"
    graph.write_bytes(b"garbage" * 100)
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["graphs"]["backbone"]["sha256"] = sha256_file(graph)
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    one_line(run(bundle_copy, clip, tmp_path), 2, "cannot load", "corrupt or truncated")
    assert not (tmp_path / "out.mp4").exists()


def test_graph_modified_after_export(bundle_copy, clip, tmp_path):
    graph = bundle_copy / "refiner.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    one_line(run(bundle_copy, clip, tmp_path, "--profile", "evs06"), 2, "refiner.onnx", "sha256")
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".out*")) == []


def test_manifest_of_a_newer_format(bundle_copy, clip, tmp_path):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    one_line(run(bundle_copy, clip, tmp_path), 2, "format version 99", "upgrade edgeseg")
    assert not (tmp_path / "out.mp4").exists()


def test_profile_needing_a_graph_the_bundle_lacks(bundle_copy, clip, tmp_path):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["graphs"]["refiner"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    one_line(run(bundle_copy, clip, tmp_path, "--profile", "evs06"), 2, "refiner", "evs06")
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".out*")) == []


# --- profiles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, key", [({"speed": 3}, "speed"), ({"keyframe_interval": 0}, "keyframe_interval"),
                                          ({"downscale": 1.5}, "downscale"), ({"warp": "yes"}, "warp")])
def test_invalid_profile_yaml(tiny_set, clip, tmp_path, changes, key):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"name": "mine", "keyframe_interval": 5, "warp": True, **changes}))
    one_line(run(tiny_set[1], clip, tmp_path, "--profile", str(path)), 2, str(path), repr(key))
    assert not (tmp_path / "out.mp4").exists()


# --- sources ------------------------------------------------------------------------------------

def test_source_that_does_not_exist(tiny_set, tmp_path):
    one_line(run(tiny_set[1], tmp_path / "missing.mp4", tmp_path), 2, "missing.mp4", "does not exist")
    assert not (tmp_path / "out.mp4").exists()


def test_source_that_cannot_be_opened(tiny_set, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    r = run(tiny_set[1], bad, tmp_path)
    one_line(r, 2, "cannot open", "notes.mp4", "not a video")
    assert "camera" not in r.stderr  # a file is not talked about as a camera
    assert not (tmp_path / "out.mp4").exists()


def test_absent_camera_index(tiny_set, tmp_path):
    r = run(tiny_set[1], "7", tmp_path)
    one_line(r, 1, "camera 7")
    assert "camera camera" not in r.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_video_truncated_midstream(tiny_set, tmp_path):
    full = write_clip(tmp_path / "full.avi", frames=40)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out = tmp_path / "o"
    out.mkdir()
    r = run(tiny_set[1], cut, out, "--warmup", "0")
    stats = json.loads((out / "stats.json").read_text())
    assert "Traceback" not in r.stderr and 5 < stats["frames"] < 40
    assert f"{stats['frames']} frames" in r.stdout  # reported
    assert frame_count(out / "out.mp4") == stats["frames"]  # the frames before the damage, finalised


def test_frame_size_change_midstream(tiny_set, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(8):
        h, w = (64, 96) if i < 4 else (80, 120)
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    labels = tmp_path / "labels"
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(folder), "--sink", str(labels), "--profile", "evs07",
                "--quiet", "--stats", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    written = sorted(labels.glob("*.png"))  # named like their images
    assert [p.name for p in written] == [f"{i:03d}.png" for i in range(8)]
    assert [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape for p in written] == [(64, 96)] * 4 + [(80, 120)] * 4
    assert json.loads((tmp_path / "s.json").read_text())["keyframes"] >= 1


# --- sinks and signals --------------------------------------------------------------------------

def test_unwritable_sink(tiny_set, clip, tmp_path):
    one_line(run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--sink", "/proc/forbidden/out.mp4",
                     "--quiet"), 1, "/proc/forbidden")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_run_finalises_video_and_stats(tiny_set, tmp_path, sig):
    long_clip = write_clip(tmp_path / "long.avi", frames=3000)
    out = tmp_path / "o"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", "--bundle", str(tiny_set[1]), "--source", str(long_clip),
                             "--sink", str(out / "out.mp4"), "--stats", str(out / "stats.json"), "--profile", "evs01", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:  # frames are being written: the run loop is going
        if any(p.stat().st_size > 20_000 for p in out.glob(".out*")):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["end"] == "stopped" and 0 < stats["frames"] < 3000
    assert frame_count(out / "out.mp4") == stats["frames"]
    assert sorted(p.name for p in out.iterdir()) == ["out.mp4", "stats.json"]


def test_an_error_after_ctrl_c_is_reported_as_the_interruption(tmp_path, capsys):
    """torch.export turns a KeyboardInterrupt landing inside it into its own error; once a stop was asked for, the
    CLI reports the interruption (exit 130), not a failure of the work."""
    from edgeseg.cli import main as cli
    cli._stop_requested.set()
    try:
        code = cli.main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "b")])
    finally:
        cli._stop_requested.clear()
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "b")]) == 2  # not asked: the error
