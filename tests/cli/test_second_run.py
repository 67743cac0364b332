"""Issue 15's smaller items, as a newcomer meets them on a second run."""

import cv2
import numpy as np
import pytest
import yaml

from edgeseg.profiles import load_profile, parse_profile
from tests.conftest import run_cli


def test_profiles_show_prints_yaml_that_loads_back():
    r = run_cli("profiles", "--show", "evs07")
    assert r.returncode == 0 and "OperatingPoint(" not in r.stdout
    assert parse_profile(yaml.safe_load(r.stdout), "<shown>") == load_profile("evs07")


def test_doctor_names_paths_plainly():
    r = run_cli("doctor", "--no-cameras")
    assert r.returncode == 0 and "_NamespacePath" not in r.stdout and "C kernels" in r.stdout


@pytest.mark.parametrize("verb", ["eval", "export"])
def test_a_size_that_export_refuses_is_refused_by_eval_too(verb, tmp_path):
    args = ["default", "--size", "500x650"] + (["--images", str(tmp_path), "--labels", str(tmp_path)] if verb == "eval"
                                               else ["--out", str(tmp_path / "b")])
    r = run_cli(verb, *args)
    assert r.returncode == 2 and "multiples of 32" in r.stderr


def test_mixed_frame_sizes_into_one_video_are_said_once(tiny_set, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(64, 96)] * 3 + [(80, 120)] * 3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(folder), "--sink", str(tmp_path / "o.mp4"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("scaled to the video's 96x64") == 1
    cap = cv2.VideoCapture(str(tmp_path / "o.mp4"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_COUNT)) == (96, 6)


def test_overlay_videos_carry_a_legend_unless_told_not_to(tiny_set, tmp_path):
    root, bundle = tiny_set
    firsts = {}
    for name, extra in (("legend", []), ("plain", ["--no-legend"])):
        r = run_cli("run", "--bundle", str(bundle), "--source", str(root / "frames"), "--sink", str(tmp_path / f"{name}.avi"),
                    "--codec", "MJPG", "--quiet", *extra)
        assert r.returncode == 0, r.stderr
        ok, firsts[name] = cv2.VideoCapture(str(tmp_path / f"{name}.avi")).read()
        assert ok
    diff = np.abs(firsts["legend"].astype(int) - firsts["plain"].astype(int)).sum(-1)
    assert diff[:20, :40].mean() > 20 and diff[40:, 60:].mean() < 5  # drawn in the corner only
