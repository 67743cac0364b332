"""Issue 6: every bad input gets one clear line, the right exit code (2: the user's input, 1: a run-time
failure) and leaves nothing partial behind; signals end runs and exports cleanly. One test per case."""

import json
import shutil
import signal

import cv2
import numpy as np
import pytest
import torch
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


# Interrupted exports (SIGINT 130, SIGTERM 143, no bundle left): tests/cli/test_exit_codes.py


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
                     "--quiet"), 2, "/proc/forbidden", "does not exist")  # a folder the user must make


# A signal during run (video finalised, stats written, exit 130 / 143): tests/cli/test_exit_codes.py


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


# --- issue 30: foreign models, check, missing graphs ----------------------------------------------------------

class NchwConv(torch.nn.Module):
    """NCHW image in, 11 class scores at stride 2 out: the smallest model a framework could hand over."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.a = torch.nn.Conv2d(3, 11, 3, stride=2, padding=1)

    def forward(self, x):
        return self.a(x)


def static_onnx(folder, layout="nchw"):
    """A foreign ONNX file fixed at 64x96 (no dynamic axes), NCHW or NHWC."""
    from tests.export.foreign_models import NhwcNet, to_onnx
    if layout == "nhwc":
        return to_onnx(NhwcNet(), torch.zeros(1, 64, 96, 3), folder / "nhwc.onnx", ["scores"])
    return to_onnx(NchwConv(), torch.zeros(1, 3, 64, 96), folder / "nchw.onnx", ["out"])


def foreign_bundle(root, model, out, **kw):
    """Export a foreign model on the tiny frames (in this process: a few seconds)."""
    from edgeseg.export.bundle import ExportOptions, ForeignOptions, export_bundle
    return export_bundle(ExportOptions(model=str(model), out=str(out), calib=str(root / "frames"), parity_frames=4,
                                       calib_frames=4, progress=False, miou_images=str(root / "frames"),
                                       miou_labels=str(root / "labels"), foreign=ForeignOptions(classes="camvid"), **kw))


@pytest.fixture(scope="module")
def fixed_bundle(tiny_root, tmp_path_factory):
    """A bundle of a foreign ONNX model fixed at 64x96: backbone at D=1 only, plus edgeseg's pre/post graphs."""
    folder = tmp_path_factory.mktemp("fixed")
    return foreign_bundle(tiny_root, static_onnx(folder), folder / "b")


@pytest.mark.parametrize("layout, given, axis, fix", [("nchw", "nhwc", 1, "drop --layout or pass --layout nchw"),
                                                      ("nhwc", "nchw", 3, "drop --layout or pass --layout nhwc")])
def test_a_layout_that_contradicts_the_graph_names_the_mismatch_not_the_size(tiny_root, tmp_path, layout, given, axis, fix):
    model = static_onnx(tmp_path, layout)
    shape = "[1, 3, 64, 96]" if layout == "nchw" else "[1, 64, 96, 3]"
    r = run_cli("export", str(model), "--classes", "camvid", "--layout", given, "--size", "64x96", "--out",
                str(tmp_path / "out" / "b"), "--calib", str(tiny_root / "frames"), "--parity-frames", "4", "--no-progress")
    one_line(r, 2, f"--layout {given} does not match", shape, f"axis {axis} is 3 and looks like the channels", fix)
    assert "--size" not in r.stderr
    nothing_written(tmp_path / "out")


def test_check_does_not_warn_about_edgesegs_own_dynamic_keyframe_graphs(fixed_bundle):
    entries = load_bundle_graphs(fixed_bundle)
    assert {"pre", "post"} <= set(entries)  # the bundle has them: the check below can see them
    r = run_cli("check", str(fixed_bundle))
    assert r.returncode == 0 and " 0 warning(s)" in r.stdout and "note(s) on edgeseg's own keyframe graphs" in r.stdout, r.stdout
    r = run_cli("check", str(fixed_bundle), "--warnings")
    assert r.returncode == 0 and "static --size" not in r.stdout and ": warning: " not in r.stdout, r.stdout
    assert "note: pre.onnx: input frame: dynamic by design" in r.stdout and "note: post.onnx" in r.stdout, r.stdout
    r = run_cli("check", str(fixed_bundle / "pre.onnx"), "--warnings")  # the file alone is recognised too
    assert "dynamic by design" in r.stdout and ": warning: " not in r.stdout, r.stdout


def test_check_still_warns_about_a_foreign_graph_with_a_dynamic_size(tmp_path):
    from tests.export.foreign_models import to_onnx
    model = to_onnx(NchwConv(), torch.zeros(1, 3, 64, 96), tmp_path / "dyn.onnx", ["out"], dynamic=True)
    r = run_cli("check", str(model), "--warnings", "--tensorrt", "11")
    assert r.returncode == 0 and "warning: dyn.onnx: input input: has a dynamic dimension" in r.stdout, r.stdout
    assert "export with a static --size" in r.stdout and "1 warning(s)" in r.stdout, r.stdout


def load_bundle_graphs(folder):
    from edgeseg.bundle import load_bundle
    return {e.role for e in load_bundle(folder).graphs.values()}


def test_a_point_at_a_downscale_a_fixed_size_bundle_lacks_says_why_and_what_to_do(fixed_bundle, clip, tmp_path):
    manifest = json.loads((fixed_bundle / "manifest.json").read_text())
    assert "static input size (64x96)" in manifest["source"]["skipped"]["backbone@0.5"]  # recorded by the export
    r = run(fixed_bundle, clip, tmp_path, "--profile", "evs09")  # D=0.5
    one_line(r, 2, "backbone@0.5", "nchw.onnx has a static input size (64x96)", "pick an operating point with D=1",
             "re-export from a model whose input size is free")
    assert not (tmp_path / "out.mp4").exists()


def test_a_bundle_without_the_reason_in_its_manifest_still_gets_why(fixed_bundle, tmp_path):
    """Bundles exported before the reason was recorded: the why comes from the source kind."""
    from edgeseg.bundle import load_bundle
    from edgeseg.errors import UsageError
    from edgeseg.profiles import load_profile
    from edgeseg.runtime.pipeline.core import check_graphs
    copy = tmp_path / "b"
    shutil.copytree(fixed_bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"].pop("skipped")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError) as e:
        check_graphs(load_bundle(copy), load_profile("evs13"))
    text = str(e.value)
    assert "\n" not in text and "a foreign ONNX model fixed at one input size gets D=1 only" in text, text
    assert "pick an operating point with D=1" in text
    check_graphs(load_bundle(copy), load_profile("evs07"))  # D=1: nothing missing, nothing raised


def test_profile_of_a_fixed_size_bundle_says_why_a_point_cannot_run(fixed_bundle, clip):
    r = run_cli("profile", "--bundle", str(fixed_bundle), "--source", str(clip), "--profiles", "evs07,evs09",
                "--frames", "6", "--no-progress")
    assert r.returncode == 1 and "static input size (64x96)" in r.stdout and "pick an operating point with D=1" in r.stdout, r.stdout
