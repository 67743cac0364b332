"""``edgeseg batch`` in this process: one row per video (a truncated file fails alone), labels identical to
``edgeseg run --sink FOLDER/``, the three formats, resume and --redo, inputs (folders, globs, manifests), the
bounded retries, and the propagate task against the Propagator."""

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeseg.batching.inputs import list_videos, shown, video_key
from edgeseg.batching.job import batch
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.errors import UsageError
from edgeseg.profiles import OperatingPoint
from edgeseg.runtime.pipeline.core import Propagator
from tests.bundle.test_manifest import V1
from tests.conftest import run_cli

CLIPS = 6


def write_clip(path: Path, frames: int, size=(96, 64), shift: int = 0) -> Path:
    """An MPEG-4 clip of a camera panning over a smooth random texture."""
    rng = np.random.default_rng(shift)
    w, h = size
    tex = cv2.GaussianBlur((rng.random((h + frames + 8, w + 2 * frames + 8, 3)) * 255).astype(np.uint8), (0, 0), 3)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (w, h))
    for i in range(frames):
        out.write(np.ascontiguousarray(tex[i: i + h, 2 * i: 2 * i + w]))
    out.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Six short clips and one truncated file."""
    root = tmp_path_factory.mktemp("clips")
    for k in range(CLIPS):
        write_clip(root / f"clip{k}.mp4", 8 + k, shift=k)
    whole = (root / "clip0.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(whole[:len(whole) // 2])  # its index (moov) is at the end: cut off
    return root


def labels_of(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))}


def test_every_video_once_a_bad_one_alone_and_labels_as_edgeseg_run(clips, tmp_path):
    out = tmp_path / "out"
    r = run_cli("batch", str(clips), "--bundle", str(V1), "--out", str(out), "--no-progress")
    assert r.returncode == 1, r.stderr  # the truncated file failed
    table = json.loads((out / "batch.json").read_text())["videos"]
    by = {Path(row["video"]).name: row for row in table}
    assert by["truncated.mp4"]["status"] == "failed" and "truncated.mp4" in by["truncated.mp4"]["error"]
    assert all(by[f"clip{k}.mp4"]["status"] == "ok" and by[f"clip{k}.mp4"]["frames"] == 8 + k for k in range(CLIPS))
    assert "1 failed" in r.stdout and (out / "batch.csv").read_text().count("\n") == CLIPS + 2
    # labels: exactly what `edgeseg run --sink FOLDER/` writes for the same video in sync mode
    ran = tmp_path / "ran"
    assert run_cli("run", "--bundle", str(V1), "--source", str(clips / "clip3.mp4"), "--sink", f"{ran}/", "--quiet").returncode == 0
    batched = labels_of(out / video_key(str(clips / "clip3.mp4")) / "labels")
    expected = labels_of(ran)
    assert list(batched) == list(expected) == [f"{i:06d}" for i in range(11)]
    assert all((batched[k] == expected[k]).all() for k in expected)
    stats = json.loads((out / video_key(str(clips / "clip3.mp4")) / "stats.json").read_text())
    assert stats["frames"] == 11 and abs(sum(stats["class_fractions"].values()) - 1) < 1e-3 and stats["attempts"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".") and not p.name.endswith(".attempts")]


def test_a_rerun_skips_what_is_done_and_redo_does_it_again(clips, tmp_path):
    out = tmp_path / "out"
    first = batch([str(clips / "clip1.mp4"), str(clips / "clip2.mp4")], V1, out, progress=False)
    marker = out / first[0]["key"] / "stats.json"
    stamp = marker.stat().st_mtime_ns
    again = batch([str(clips / "clip1.mp4"), str(clips / "clip2.mp4")], V1, out, progress=False)
    assert [r["status"] for r in again] == ["skipped", "skipped"] and marker.stat().st_mtime_ns == stamp
    assert [r["frames"] for r in again] == [r["frames"] for r in first]
    other = batch([str(clips / "clip1.mp4")], V1, out, profile=OperatingPoint(name="s3", keyframe_interval=3),
                  progress=False)  # another operating point: done again
    assert other[0]["status"] == "ok"
    with pytest.raises(UsageError, match="backbone@0.5"):  # a point the bundle cannot run: one error, no rows
        batch([str(clips / "clip1.mp4")], V1, out, profile="evs14", progress=False)
    redo = batch([str(clips / "clip2.mp4")], V1, out, redo=True, progress=False)
    assert redo[0]["status"] == "ok" and marker.exists()


def test_formats_hold_the_same_labels(clips, tmp_path):
    import zstandard
    video = str(clips / "clip4.mp4")
    key = video_key(video)
    for fmt in ("png", "npz", "zstd"):
        assert batch([video], V1, tmp_path / fmt, fmt=fmt, progress=False)[0]["status"] == "ok"
    png = labels_of(tmp_path / "png" / key / "labels")
    npz = np.load(tmp_path / "npz" / key / "labels.npz")
    h, w = json.loads((tmp_path / "zstd" / key / "stats.json").read_text())["frame_size"]
    raw = zstandard.ZstdDecompressor().stream_reader(open(tmp_path / "zstd" / key / "labels.zst", "rb")).read()
    zst = np.frombuffer(raw, np.uint8).reshape(-1, h, w)
    assert sorted(npz.files) == list(png) and len(zst) == len(png) == 12
    assert all((npz[k] == png[k]).all() and (zst[i] == png[k]).all() for i, k in enumerate(png))


def test_inputs_folders_globs_manifests_and_credentials(clips, tmp_path):
    frames = tmp_path / "archive" / "drive1"
    frames.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), np.zeros((8, 8, 3), np.uint8))
    shutil.copy(clips / "clip0.mp4", tmp_path / "archive" / "a.mp4")
    assert [Path(v.uri).name for v in list_videos([str(tmp_path / "archive")])] == ["a.mp4", "drive1"]
    assert len(list_videos([str(clips / "clip*.mp4")])) == CLIPS
    (tmp_path / "m.csv").write_text(f"uri,labels\n{clips / 'clip0.mp4'},\narchive/a.mp4,lab\n")
    rows = list_videos([str(tmp_path / "m.csv")])
    assert rows[1].uri == str(tmp_path / "archive" / "a.mp4") and rows[1].labels == str(tmp_path / "lab")
    (tmp_path / "m.jsonl").write_text(json.dumps({"uri": str(tmp_path / "gone.mp4")}) + "\n")
    gone = list_videos([str(tmp_path / "m.jsonl")])[0]
    assert gone.error and "gone.mp4" in gone.error  # a failed row, not a failed job
    with pytest.raises(UsageError, match="does not exist"):
        list_videos([str(tmp_path / "nothing.mp4")])
    assert shown("s3://AKIA:secret@bucket/x.mp4") == "s3://AKIA:***@bucket/x.mp4"


def test_a_video_that_killed_its_worker_too_often_fails_alone(clips, tmp_path):
    from edgeseg.batching.inputs import list_videos
    from edgeseg.batching.worker import Settings, VideoWorker, bundle_digest
    out = tmp_path / "out"
    out.mkdir()
    worker = VideoWorker(Settings(bundle=str(V1), op=OperatingPoint(name="t"), out=str(out), retries=2,
                                  bundle_digest=bundle_digest(V1)))
    bad, good = list_videos([str(clips / "clip0.mp4"), str(clips / "clip1.mp4")])
    (out / f".{bad.key}.attempts").write_text("111\n222\n333\n")  # three workers of this job died on it
    (out / f".{bad.key}.tmp-deadbeef").mkdir()  # and the last one left a temporary folder behind
    rows = [worker.process(bad), worker.process(good)]
    worker.close()
    assert [r["status"] for r in rows] == ["failed", "ok"] and "3 attempts" in rows[0]["error"]
    assert not (out / bad.key).exists() and not (out / f".{bad.key}.attempts").exists()
    # a new job starts its counts afresh (an interrupted run's counts are swept)
    (out / f".{bad.key}.attempts").write_text("111\n222\n333\n")
    assert batch(str(clips / "clip0.mp4"), V1, out, retries=2, progress=False)[0]["status"] == "ok"
    assert not list(out.glob(".*"))  # the dead attempt's temporary folder was swept too


def test_propagate_carries_given_labels_like_the_propagator(tiny_root, tmp_path):
    frames = list_images(tiny_root / "frames")
    given = tmp_path / "given"
    given.mkdir()
    truth = [cv2.imread(str(tiny_root / "labels" / f"{p.stem}.png"), cv2.IMREAD_UNCHANGED) for p in frames]
    for i in (2, 6):  # labels for frames 2 and 6 only
        cv2.imwrite(str(given / f"{frames[i].stem}.png"), truth[i])
    (tmp_path / "m.jsonl").write_text(json.dumps({"uri": str(tiny_root / "frames"), "labels": str(given)}) + "\n")
    out = tmp_path / "out"
    table = batch(str(tmp_path / "m.jsonl"), V1, out, task="propagate", progress=False)
    assert table[0]["status"] == "ok" and table[0]["keyframes"] == 3  # frame 0 (nothing given yet), 2 and 6
    got = labels_of(out / table[0]["key"] / "labels")
    names = [p.stem for p in frames]
    assert list(got) == names
    assert (got[names[0]] == 11).all() and (got[names[1]] == 11).all()  # before the first label: unlabelled
    assert (got[names[2]] == truth[2]).all() and (got[names[6]] == truth[6]).all()
    rgb = [read_rgb(p) for p in frames]
    carried = list(Propagator(OperatingPoint(name="p")).propagate(truth[2], rgb[2], rgb[3:6]))
    assert all((got[names[3 + k]] == c).all() for k, c in enumerate(carried))
    stats = json.loads((out / table[0]["key"] / "stats.json").read_text())
    assert stats["labelled_frames"] == 2 and stats["task"] == "propagate"


def test_bad_arguments_are_one_line(clips, tmp_path):
    r = run_cli("batch", str(clips / "clip0.mp4"), "--bundle", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and not (tmp_path / "o").exists()
    with pytest.raises(UsageError, match="format"):
        batch(str(clips / "clip0.mp4"), V1, tmp_path / "o", fmt="gif")
    assert os.listdir(tmp_path) == []


def test_the_runtime_and_one_worker_never_load_ray(clips, tmp_path):
    import subprocess
    import sys
    code = ("import sys\nfrom edgeseg.cli.main import main\n"
            f"main(['batch', {str(clips / 'clip0.mp4')!r}, '--bundle', {str(V1)!r}, '--out', {str(tmp_path / 'o')!r},"
            " '--no-progress'])\n"
            f"main(['run', '--bundle', {str(V1)!r}, '--source', {str(clips / 'clip0.mp4')!r}, '--quiet'])\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_an_object_store_uri_is_read_through_fsspec(clips, tmp_path):
    import fsspec
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/rec/drive.mp4", (clips / "clip2.mp4").read_bytes())
    table = batch("memory://bucket/rec/drive.mp4", V1, tmp_path / "out", progress=False)
    assert table[0]["status"] == "ok" and table[0]["frames"] == 10 and table[0]["key"].startswith("drive-")
    local = batch(str(clips / "clip2.mp4"), V1, tmp_path / "local", progress=False)
    assert labels_of(Path(table[0]["output"]) / "labels").keys() == labels_of(Path(local[0]["output"]) / "labels").keys()
    assert sorted(p.name for p in Path(table[0]["output"]).iterdir()) == ["labels", "stats.json"]  # not the copy
    assert not list((tmp_path / "out").glob(".*tmp*"))
