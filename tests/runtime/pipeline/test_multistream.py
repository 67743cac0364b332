"""Several streams sharing one engine: state kept apart, keyframes staggered (at most ceil(N/S) per tick after
the first), adaptive re-keying deferred within its bound, a stream that ends early ends alone, the CLI's
sink rules, mosaic and stats."""

import json
import shutil

import cv2
import numpy as np
import pytest

from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.io.sinks import Sink
from edgeseg.runtime.io.sources import open_source
from edgeseg.runtime.operating_point import Adaptive, OperatingPoint
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.session import Session, Stream, key_budget
from tests.conftest import run_cli


class KeepLabels(Sink):
    """A sink that keeps what it is given (the labels a stream wrote)."""

    def __init__(self):
        self.labels = []

    def write(self, rgb, labels, index, name=""):
        self.labels.append(labels)


def streams_of(bundle, folders, op):
    engines = EngineSet(bundle)
    pipes = [Pipeline(bundle, op, engines=engines) for _ in folders]
    for p in pipes:
        p.stats.warmup = 0
    return [Stream(f"s{i}", open_source(str(f)), p) for i, (f, p) in enumerate(zip(folders, pipes))], engines


def run_collect(made, **kw):
    streams, engines = made
    session = Session(streams, engines=engines, **kw)
    ticks = [{d.stream.name: d.output.keyframe for d in tick.frames} for tick in session.ticks()]
    assert all(s.pipeline.engines == {} for s in streams)  # the session closed what it was given to own
    return session.result(), ticks


@pytest.fixture(scope="module")
def setup(tiny_set):
    root, bundle = tiny_set
    return load_bundle(bundle), root / "frames"


def test_aligned_streams_each_equal_a_pipeline_of_their_own(setup):
    bundle, frames = setup
    op = OperatingPoint(name="t", keyframe_interval=3)
    with Pipeline(bundle, op) as alone:
        expected = [alone.process(read_rgb(p)).labels for p in list_images(frames)]
    streams, engines = streams_of(bundle, [frames, frames], op)
    for s in streams:
        s.sink = KeepLabels()
    result, _ = run_collect((streams, engines), stagger=False)
    assert result.end == "end_of_stream" and result.stats["ticks"] == len(expected)
    for s in streams:
        assert len(s.sink.labels) == len(expected) and all((a == b).all() for a, b in zip(s.sink.labels, expected))


@pytest.mark.parametrize("n, interval", [(4, 5), (4, 2), (3, 3)])
def test_staggered_keyframes_stay_within_the_budget(setup, n, interval):
    bundle, frames = setup
    result, ticks = run_collect(streams_of(bundle, [frames] * n, OperatingPoint(name="t", keyframe_interval=interval)))
    per_tick = [sum(t.values()) for t in ticks]
    assert per_tick[0] == n and max(per_tick[1:]) <= key_budget(n, interval)
    aligned, aligned_ticks = run_collect(streams_of(bundle, [frames] * n, OperatingPoint(name="t", keyframe_interval=interval)),
                                         stagger=False)
    assert max(sum(t.values()) for t in aligned_ticks[1:]) == n  # without staggering, every stream keys together
    keys = {name: [t[name] for t in ticks].count(True) for name in ticks[0]}
    assert all(abs(k - keys["s0"]) <= 1 for k in keys.values())  # staggering moves keyframes, it does not drop them
    assert result.stats["tick_ms"]["p99"] is not None and len(result.stats["streams"]) == n


def test_adaptive_rekeying_waits_its_turn(setup):
    bundle, frames = setup
    op = OperatingPoint(name="t", keyframe_interval=1, adaptive=Adaptive(max_interval=4, max_inconsistency=0.0))
    _, ticks = run_collect(streams_of(bundle, [frames] * 4, op))
    assert all(sum(t.values()) <= 1 for t in ticks[1:])
    for name in ticks[0]:
        at = [i for i, t in enumerate(ticks) if t[name]]
        assert max(np.diff(at)) <= 4 + 3  # due every frame (inconsistency > 0), waits at most N - 1 ticks


def test_a_stream_that_ends_early_ends_alone(setup, tmp_path):
    bundle, frames = setup
    short = tmp_path / "short"
    short.mkdir()
    for p in list_images(frames)[:4]:
        shutil.copy(p, short / p.name)
    result, ticks = run_collect(streams_of(bundle, [short, frames], OperatingPoint(name="t", keyframe_interval=2)))
    by = {s["source"]: s for s in result.stats["streams"]}
    assert by["s0"]["frames"] == 4 and by["s1"]["frames"] == 10 and by["s0"]["end"] == "end_of_stream"
    assert len(ticks) == 10


def test_cli_sink_count_must_match(tiny_set, tmp_path):
    root, bundle = tiny_set
    f = str(root / "frames")
    r = run_cli("run", "--bundle", str(bundle), "--source", f, "--source", f, "--source", f,
                "--sink", str(tmp_path / "a.mp4"), "--sink", str(tmp_path / "b.mp4"), "--quiet")
    assert r.returncode == 2 and "2 --sink for 3 --source" in r.stderr and not list(tmp_path.iterdir())


def test_cli_mosaic_and_stats(tiny_set, tmp_path):
    root, bundle = tiny_set
    f = str(root / "frames")
    r = run_cli("run", "--bundle", str(bundle), "--source", f, "--source", f, "--sink", str(tmp_path / "m.avi"),
                "--codec", "MJPG", "--stats", str(tmp_path / "s.json"), "--quiet")
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(tmp_path / "m.avi"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (2 * 96, 64)
    stats = json.loads((tmp_path / "s.json").read_text())
    assert [s["frames"] for s in stats["streams"]] == [10, 10] and stats["tick_ms"]["p99"] > 0 and stats["stagger"]


def test_without_warm_up_ticks_fps_is_still_measured(setup):
    bundle, frames = setup
    result, _ = run_collect(streams_of(bundle, [frames, frames], OperatingPoint(name="t", keyframe_interval=2)), warmup=0)
    assert result.stats["fps"] is not None and result.stats["fps"] > 0
