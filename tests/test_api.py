"""The Python API: Segmenter on the tiny bundle gives exactly the pipeline's labels, switches operating points
between frames, streams any source URI; importing edgeseg stays cheap; the examples run."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeseg
from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.profiles import load_profile
from edgeseg.runtime.pipeline.core import Pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def frames(tiny_set):
    return [read_rgb(p) for p in list_images(tiny_set[0] / "frames")]


def test_segmenter_gives_the_pipelines_labels(tiny_set, frames):
    with Pipeline(load_bundle(tiny_set[1]), load_profile("evs07")) as pipe:
        expected = [pipe.process(f) for f in frames]
    with edgeseg.Segmenter(tiny_set[1], profile="evs07", backend="onnxrt") as seg:
        results = [seg(f) for f in frames]
    assert [r.keyframe for r in results] == [e.keyframe for e in expected]
    for r, e, f in zip(results, expected, frames):
        np.testing.assert_array_equal(r.labels, e.labels)
        assert r.labels.dtype == np.uint8 and r.frame is f
    assert results[0].overlay().shape == frames[0].shape and results[0].class_names[0] == "Sky"
    assert len(results[0].colors) == len(results[0].class_names)


def test_switching_the_operating_point_makes_the_next_frame_a_keyframe(tiny_set, frames):
    with edgeseg.Segmenter(tiny_set[1], profile="evs07") as seg:
        first = [seg(f).keyframe for f in frames[:3]]
        seg.set_profile("evs14")
        after = [seg(f) for f in frames[3:6]]
        stats, name = seg.stats(), seg.profile.name
    assert first == [True, False, False] and name == "evs14"
    assert after[0].keyframe and after[0].index == 3
    assert stats["frames"] == 6 and stats["read"] == 6 and stats["dropped"] == 0


def test_setting_the_point_in_use_again_changes_nothing(tiny_set, frames):
    """A loop that sets its point on every frame (``if late: seg.set_profile("evs14")``) must not key every frame."""
    with edgeseg.Segmenter(tiny_set[1], profile="evs07") as seg:
        keys = []
        for f in frames[:8]:
            seg.set_profile("evs07")
            keys.append(seg(f).keyframe)
    assert keys == [True, False, False, False, False, True, False, False]


def test_stream_reads_any_source_uri(tiny_set):
    with edgeseg.Segmenter(tiny_set[1]) as seg:
        results = list(seg.stream(str(tiny_set[0] / "frames"), max_frames=7))
    assert [r.index for r in results] == list(range(7)) and results[0].keyframe
    stats = seg.stats()
    assert stats["read"] == stats["frames"] == 7 and stats["stage_ms"]["decode"] > 0  # decoding is counted, as in the CLI


def test_a_second_stream_starts_afresh(tiny_set):
    with edgeseg.Segmenter(tiny_set[1], profile="evs07") as seg:
        first = list(seg.stream(str(tiny_set[0] / "frames"), max_frames=5))
        again = list(seg.stream(str(tiny_set[0] / "frames"), max_frames=5))
    assert again[0].keyframe and [r.keyframe for r in again] == [r.keyframe for r in first]
    assert all((a.labels == b.labels).all() for a, b in zip(first, again))  # nothing carried over from the first clip
    assert again[0].index == 5  # frame numbers carry on, as the statistics do


def test_a_closed_segmenter_says_so(tiny_set, frames):
    seg = edgeseg.Segmenter(tiny_set[1])
    seg.close()
    with pytest.raises(edgeseg.errors.UsageError, match="closed"):
        seg(frames[0])


def test_importing_edgeseg_is_cheap():
    code = ("import sys, edgeseg\n"
            "heavy = {'torch', 'onnxruntime', 'cv2'} & set(sys.modules)\n"
            "assert not heavy, heavy\n"
            "assert edgeseg.Propagator.__name__ == 'Propagator' and 'cv2' in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_own_loop_example_runs(tiny_set, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for p in list_images(tiny_set[0] / "frames") * 3:
        writer.write(cv2.imread(str(p)))
    writer.release()
    r = subprocess.run([sys.executable, str(EXAMPLES / "own_loop.py"), str(tiny_set[1]), str(video), str(tmp_path / "o.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "30 frames" in r.stdout and cv2.imread(str(tmp_path / "o.png")).shape == (64, 96, 3)


def test_the_propagation_example_runs(tiny_set, tmp_path):
    frames = list_images(tiny_set[0] / "frames")[:4]
    labels = tmp_path / "labels.png"
    cv2.imwrite(str(labels), np.tile(np.arange(96, dtype=np.uint8) // 10, (64, 1)))
    r = subprocess.run([sys.executable, str(EXAMPLES / "propagate_annotation.py"), str(labels), *map(str, frames),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == [p.name for p in frames[1:]]
    assert cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED).max() == 9


def test_a_third_party_runner_reproduces_the_labels_from_the_manifest_alone(tiny_set, tmp_path):
    root, bundle = tiny_set
    image = list_images(root / "frames")[0]
    r = subprocess.run([sys.executable, str(EXAMPLES / "third_party_runner.py"), str(bundle), str(image), str(tmp_path / "t.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with edgeseg.Segmenter(bundle, profile="evs01", backend="onnxrt") as seg:  # S=1: every frame segmented
        ours = seg(read_rgb(image)).labels
    theirs = cv2.imread(str(tmp_path / "t.png"), cv2.IMREAD_UNCHANGED)
    assert (ours == theirs).mean() == 1.0
