"""``edgeseg batch`` on a local Ray (Ray Data, 2 workers): a worker killed by PID mid-video is restarted and the
video redone, every video ends up exactly once, and the labels equal the in-process run's. The cluster case (a
second node joined with ``ray start --address``) is marked slow."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeseg.batching.inputs import video_key
from edgeseg.batching.job import batch
from tests.batching.test_batch import labels_of, write_clip
from tests.bundle.test_manifest import V1

ray = pytest.importorskip("ray", reason="Ray Data not installed: pip install 'edgeseg[batch]'")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    for k in range(6):
        write_clip(root / f"clip{k}.mp4", 6 + k, shift=k)
    whole = (root / "clip0.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(whole[:len(whole) // 2])
    write_clip(root / "long.mp4", 700, size=(320, 240), shift=9)  # seconds of work: time to kill its worker
    return root


def batch_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgeseg", "batch", *args, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def outputs(out: Path) -> dict[str, dict[str, np.ndarray]]:
    return {d.name: labels_of(d / "labels") for d in sorted(out.iterdir()) if d.is_dir() and not d.name.startswith(".")}


def test_a_worker_killed_mid_video_loses_nothing(archive, tmp_path):
    out = tmp_path / "ray"
    proc = batch_cli(str(archive), "--bundle", str(V1), "--out", str(out), "--workers", "2", "--retries", "2")
    counter = out / f".{video_key(str(archive / 'long.mp4'))}.attempts"
    deadline, killed = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None and killed is None:
        if counter.exists() and counter.read_text().strip():
            killed = int(counter.read_text().split()[0])  # the PID of the worker on the long video
            time.sleep(0.3)  # mid-video
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed is not None, f"the long video's worker was never seen: {stdout}\n{stderr}"
    assert proc.returncode == 1, stderr  # the truncated file failed; everything else came through
    table = {Path(r["video"]).name: r for r in json.loads((out / "batch.json").read_text())["videos"]}
    assert table["truncated.mp4"]["status"] == "failed" and json.loads((out / "batch.json").read_text())["engine"] == "ray"
    assert all(table[f"clip{k}.mp4"]["status"] == "ok" for k in range(6))
    assert table["long.mp4"]["status"] == "ok" and table["long.mp4"]["attempts"] == 2 and table["long.mp4"]["frames"] == 700
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder, no attempt count left
    # exactly once and complete: the same files and labels as one worker in this process
    local = tmp_path / "local"
    batch(str(archive), V1, local, progress=False)
    got, expected = outputs(out), outputs(local)
    assert list(got) == list(expected) and len(got) == 7
    for key in expected:
        assert list(got[key]) == list(expected[key]) and all((got[key][f] == expected[key][f]).all() for f in expected[key])


@pytest.mark.slow
def test_joins_a_cluster_of_two_nodes_by_address(archive, tmp_path):
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = "6391"
    try:
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"],
                       check=True, capture_output=True, timeout=120)
        # Ray 2.60's head made a token (~/.ray/auth_token); a node joining it authenticates with it
        subprocess.run([ray_cli, "start", f"--address=127.0.0.1:{port}", "--num-cpus=2"], check=True, capture_output=True,
                       timeout=120, env={**os.environ, "RAY_AUTH_MODE": "token"})
        proc = batch_cli(str(archive / "clip1.mp4"), str(archive / "clip2.mp4"), str(archive / "clip3.mp4"),
                         "--bundle", str(V1), "--out", str(tmp_path / "out"), "--workers", "2", "--address", f"127.0.0.1:{port}")
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
    assert proc.returncode == 0, stderr
    summary = json.loads((tmp_path / "out" / "batch.json").read_text())
    assert summary["totals"]["ok"] == 3 and summary["address"] == f"127.0.0.1:{port}"
    local = tmp_path / "local"
    batch([str(archive / f"clip{k}.mp4") for k in (1, 2, 3)], V1, local, progress=False)
    assert outputs(tmp_path / "out").keys() == outputs(local).keys()
