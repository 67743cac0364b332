"""`edgeseg run` end to end on a real (generated) video file: stats JSON, playable output, clear errors."""

import json

import cv2
import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def clip(tiny_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    frames = sorted((tiny_root / "frames").glob("*.png"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for _ in range(2):
        for f in frames:
            writer.write(cv2.imread(str(f)))
    writer.release()
    return path


def test_run_writes_stats_and_a_playable_video(tiny_set, clip, tmp_path):
    _, bundle = tiny_set
    r = run_cli("run", "--bundle", str(bundle), "--profile", "evs07", "--source", str(clip), "--sink",
                str(tmp_path / "out.avi"), "--stats", str(tmp_path / "s.json"), "--quiet")
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames"] == 20 and stats["keyframes"] > 0 and stats["dropped"] == 0
    assert stats["fps"] > 0 and {"p50", "p99"} <= set(stats["latency_ms"])
    assert set(stats["stage_ms"]) == {"decode", "flow", "warp", "segment", "refine", "fuse", "render"}
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi", "s.json"]


def test_run_to_a_label_folder(tiny_set, clip, tmp_path):
    _, bundle = tiny_set
    r = run_cli("run", "--bundle", str(bundle), "--profile", "evs03", "--source", str(clip), "--sink",
                str(tmp_path / "labels"), "--max-frames", "7", "--quiet")
    assert r.returncode == 0, r.stderr
    pngs = sorted((tmp_path / "labels").glob("*.png"))
    assert len(pngs) == 7 and cv2.imread(str(pngs[3]), cv2.IMREAD_UNCHANGED).max() < 11


@pytest.mark.parametrize("args, message", [
    (["--source", "/nonexistent/clip.mp4"], "does not exist"),
    (["--source", "/dev/video9"], "does not exist"),
    (["--profile", "evs99"], "unknown profile"),
    (["--sink", "/proc/forbidden/out.mp4"], "cannot"),
])
def test_run_bad_input_is_one_line(tiny_set, clip, args, message):
    _, bundle = tiny_set
    base = {"--source": str(clip), "--profile": "evs07"}
    base.update(dict(zip(args[::2], args[1::2])))
    r = run_cli("run", "--bundle", str(bundle), *[x for kv in base.items() for x in kv], "--quiet")
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_truncated_video_reports_the_frames_before_the_damage(tiny_set, clip, tmp_path):
    _, bundle = tiny_set
    data = clip.read_bytes()
    bad = tmp_path / "cut.avi"
    bad.write_bytes(data[: len(data) * 6 // 10])
    r = run_cli("run", "--bundle", str(bundle), "--source", str(bad), "--stats", str(tmp_path / "s.json"), "--quiet")
    stats = json.loads((tmp_path / "s.json").read_text())
    assert 0 < stats["frames"] < 20
    assert stats["end"] in ("source_error", "end_of_stream")
    assert "Traceback" not in r.stderr


def test_stats_carry_the_memory_at_the_start_and_the_end(tiny_set, tmp_path):
    root, bundle = tiny_set
    r = run_cli("run", "--bundle", str(bundle), "--source", str(root / "frames"), "--stats", str(tmp_path / "s.json"), "--quiet")
    assert r.returncode == 0, r.stderr
    rss = json.loads((tmp_path / "s.json").read_text())["rss_mb"]
    assert 10 < rss["start"] <= rss["end"] + 50 and rss["end"] > 10  # MB of a Python process with ONNX Runtime loaded


def test_worker_threads_exist_from_the_start():
    import threading

    from edgeseg.runtime.pipeline.core import started_pool
    before = threading.active_count()
    pool = started_pool(3, "t")
    assert threading.active_count() == before + 3
    for _ in range(50):  # jobs submitted back to back never start another thread
        pool.submit(lambda: None).result()
    assert threading.active_count() == before + 3
    pool.shutdown()
