"""Issue 15: outputs are whole or absent. A full disk, a refused folder, and counts that cannot be measured
each give one line and the right exit code; stats are strict JSON; nothing corrupt lies under a final name."""

import json
import shutil
import subprocess
import sys

import pytest

from tests.cli.test_failure_modes import one_line, write_clip
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.avi", frames=40, size=(96, 64))


def _small_tmpfs_run(folder, *args):
    """``python -m edgeseg ARGS`` in a private mount namespace with a 256 KB tmpfs mounted on ``folder``."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=8k tmpfs {folder}"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.strip()}")
    # the listing runs inside the namespace: the tmpfs (and what is left on it) vanishes with it
    script = (f"mount -t tmpfs -o size=256k tmpfs {folder} && \"$0\" -m edgeseg \"$@\"; code=$?; "
              f"echo LISTING; ls -a {folder}; exit $code")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable, *args], capture_output=True, text=True)


def _left_on(r):
    return [n for n in r.stdout.split("LISTING", 1)[1].split() if n not in (".", "..")]


def test_a_full_disk_leaves_no_video_and_one_line(tiny_set, tmp_path):
    big = write_clip(tmp_path / "big.avi", frames=300, size=(320, 240))  # about 500 KB of mp4: twice the tmpfs
    full = tmp_path / "full"
    full.mkdir()
    r = _small_tmpfs_run(full, "run", "--bundle", str(tiny_set[1]), "--source", str(big), "--sink", str(full / "out.mp4"),
                         "--profile", "evs07", "--quiet")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "out.mp4" in r.stderr and "ended: sink_failed" in r.stdout
    assert _left_on(r) == []  # no truncated out.mp4, no temporary file


def test_a_full_disk_still_gets_the_stats_written_elsewhere(tiny_set, tmp_path):
    big = write_clip(tmp_path / "big.avi", frames=300, size=(320, 240))  # about 500 KB of mp4: twice the tmpfs
    full = tmp_path / "full"
    full.mkdir()
    r = _small_tmpfs_run(full, "run", "--bundle", str(tiny_set[1]), "--source", str(big), "--sink", str(full / "out.mp4"),
                         "--stats", str(tmp_path / "s.json"), "--quiet")
    assert r.returncode == 1
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["end"] == "sink_failed" and "out.mp4" in stats["error"]


def test_label_pngs_then_stats_on_a_full_disk(tiny_set, tmp_path):
    big = write_clip(tmp_path / "big.avi", frames=300, size=(320, 240))
    full = tmp_path / "full"
    full.mkdir()
    r = _small_tmpfs_run(full, "run", "--bundle", str(tiny_set[1]), "--source", str(big), "--sink", str(full / "labels"),
                         "--stats", str(full / "s.json"), "--quiet")
    one_line(r, 1, "s.json")  # the complete PNGs fill the disk; the stats cannot be written: said, not a traceback
    assert _left_on(r) == ["labels"]  # no partial stats file
    assert "ended: sink_failed" in r.stdout


def test_label_pngs_on_a_full_disk(tiny_set, tmp_path):
    big = write_clip(tmp_path / "big.avi", frames=300, size=(320, 240))
    full = tmp_path / "full"
    full.mkdir()
    r = _small_tmpfs_run(full, "run", "--bundle", str(tiny_set[1]), "--source", str(big), "--sink", str(full / "labels"), "--quiet")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "cannot write" in r.stderr, r.stderr
    assert not any(n.startswith(".") for n in _left_on(r))


def test_a_folder_the_filesystem_refuses(tiny_set, clip):
    one_line(run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--sink", "/sys/out.mp4", "--quiet"), 1, "/sys/out.mp4")


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_max_frames_must_be_a_positive_count(tiny_set, clip, count):
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--max-frames", count, "--quiet")
    assert r.returncode == 2 and "--max-frames" in r.stderr and "Traceback" not in r.stderr


def test_a_run_too_short_to_measure_says_so_in_strict_json(tiny_set, clip, tmp_path):
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--max-frames", "2", "--stats", str(tmp_path / "s.json"),
                "--quiet")
    assert r.returncode == 0 and "nan" not in r.stdout.lower() and "warm-up" in r.stdout
    text = (tmp_path / "s.json").read_text()
    stats = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert stats["fps"] is None and stats["latency_ms"]["p50"] is None and "warm-up" in stats["fps_note"]


def test_a_run_whose_keyframes_all_fell_in_the_warm_up_says_its_fps_counts_propagated_frames_only(tiny_set, clip, tmp_path):
    """evs14 keys every 17th frame: over 10 frames its only keyframe is frame 0, inside the 3 warm-up frames."""
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--profile", "evs14", "--max-frames", "10",
                "--stats", str(tmp_path / "s.json"), "--quiet")
    assert r.returncode == 0 and "propagated frames only" in r.stdout
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["fps"] is not None and stats["keyframes"] == 0 and "no keyframe after the 3 warm-up" in stats["fps_note"]
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", str(clip), "--profile", "evs14", "--max-frames", "30",
                "--stats", str(tmp_path / "t.json"), "--quiet")
    assert json.loads((tmp_path / "t.json").read_text())["fps_note"] is None  # frame 17 is a keyframe: nothing to say
