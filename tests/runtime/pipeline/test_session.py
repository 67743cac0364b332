"""The one frame loop: live mode drops frames instead of queueing them, a stop ends a run cleanly, a control's
switch moves every stream between ticks on one EngineSet (a failed one moves none), observers see every tick, and
one stream's figures have the shape of many streams' totals."""

import threading
import time

import numpy as np
import pytest

from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.errors import UsageError
from edgeseg.profiles import OperatingPoint
from edgeseg.runtime.engines.engine_set import EngineSet
from edgeseg.runtime.io.sinks import NullSink
from edgeseg.runtime.io.sources import FrameListSource, Read, Source, Status
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.session import Session, Stream


@pytest.fixture(scope="module")
def setup(tiny_set):
    root, bundle = tiny_set
    return load_bundle(bundle), [read_rgb(p) for p in list_images(root / "frames")]


class FastLiveSource(Source):
    """A live source that delivers frames every 0.5 ms, then ends."""

    live = True

    def __init__(self, frames, total):
        self.frames, self.total, self.i = frames, total, 0

    def read(self):
        if self.i >= self.total:
            return Read(Status.END)
        self.i += 1
        time.sleep(0.0005)
        return Read(Status.FRAME, self.frames[self.i % len(self.frames)])


class SlowSink(NullSink):
    """A sink that takes 2 ms a frame, four times the source's interval: a step is always slower than the source,
    however fast the tiny model and the kernels are (without it, a fast run sometimes kept up and dropped nothing)."""

    def write(self, rgb, labels, index, name=""):
        time.sleep(0.002)


class Asks:
    """A control asking for one operating point once, at a given tick."""

    def __init__(self, name, at):
        self.name, self.at, self.ticks = name, at, 0

    def take_request(self):
        self.ticks += 1
        return self.name if self.ticks == self.at + 1 else None


class Seen:
    """An observer recording, per tick, each stream's (operating point, keyframe)."""

    def __init__(self):
        self.ticks = []

    def on_tick(self, session, tick):
        self.ticks.append([(d.stream.pipeline.op.name, d.output.keyframe) for d in tick.frames])


def test_live_mode_drops_frames_and_keeps_latency_bounded(setup):
    bundle, frames = setup
    pipe = Pipeline(bundle, OperatingPoint(name="t", keyframe_interval=1))
    t = time.perf_counter()
    result = Session([Stream("fast", FastLiveSource(frames, 600), pipe, SlowSink())], mode="live", warmup=0).run()
    wall = time.perf_counter() - t
    s = result.stats
    assert result.end == "end_of_stream"
    assert s["dropped"] > 0 and s["frames"] + s["dropped"] == s["read"] == 600
    # newest-frame-wins: a frame waits for at most about one pipeline step, never for a queue to drain
    assert s["latency_ms"]["p99"] / 1000 < 0.5 * wall and s["frames"] >= 10


def test_stop_event_ends_a_run_cleanly(setup):
    bundle, frames = setup
    stop = threading.Event()

    class StopAtFive:
        def on_tick(self, session, tick):
            if session.ticks_done >= 5:
                stop.set()
    session = Session([Stream("s", FastLiveSource(frames, 10**6), Pipeline(bundle, OperatingPoint(name="t")))],
                      stop=stop, observers=[StopAtFive()])
    result = session.run()
    assert result.end == "stopped" and result.stats["frames"] == 5


def test_a_control_switches_every_stream_and_the_set_closes_what_none_runs(setup):
    bundle, frames = setup
    engines = EngineSet(bundle)
    start = OperatingPoint(name="a", keyframe_interval=2, refine=True)
    pipes = [Pipeline(bundle, start, engines=engines) for _ in range(2)]
    seen = Seen()
    points = {"b": OperatingPoint(name="b", keyframe_interval=3, downscale=0.5)}
    session = Session([Stream(f"s{i}", FrameListSource(frames), p) for i, p in enumerate(pipes)], engines=engines,
                      observers=[seen], controls=[Asks("b", at=4)], resolve=points.__getitem__)
    assert "refiner" in engines and "backbone" in engines
    for tick in session.ticks():
        if tick.index == 4:
            assert "refiner" not in engines and "backbone" not in engines  # no stream runs them any more
            assert pipes[0].engines["backbone@0.5"] is pipes[1].engines["backbone@0.5"]  # one copy of the model
    assert [t[0][0] for t in seen.ticks] == ["a"] * 4 + ["b"] * (len(frames) - 4)
    assert all(keyframe for _, keyframe in seen.ticks[4])  # a switch starts with a keyframe on every stream
    assert "backbone@0.5" not in engines and pipes[0].engines == {}  # the session closed what it owned


def test_a_switch_that_cannot_happen_moves_no_stream(setup, capsys):
    from tests.bundle.test_manifest import V1
    bare = load_bundle(V1)  # no refiner
    engines = EngineSet(bare)
    pipes = [Pipeline(bare, OperatingPoint(name="a", keyframe_interval=2), engines=engines) for _ in range(2)]
    frames = [np.zeros((64, 96, 3), np.uint8)] * 6
    refine = OperatingPoint(name="r", keyframe_interval=2, refine=True)
    session = Session([Stream(f"s{i}", FrameListSource(frames), p) for i, p in enumerate(pipes)], engines=engines,
                      controls=[Asks("r", at=2)], resolve=lambda name: refine)
    result = session.run()
    err = capsys.readouterr().err
    assert "cannot switch to r" in err and "refiner" in err
    assert result.end == "end_of_stream" and all(p.op.name == "a" for p in pipes)
    with pytest.raises(UsageError, match="refiner"):
        Session([Stream("s", FrameListSource(frames), Pipeline(bare, OperatingPoint(name="a")))]).switch(refine)


def test_one_stream_has_the_shape_of_many(setup):
    bundle, frames = setup
    one = Session([Stream("s", FrameListSource(frames), Pipeline(bundle, OperatingPoint(name="t")))]).run().stats
    engines = EngineSet(bundle)
    two = Session([Stream(f"s{i}", FrameListSource(frames), Pipeline(bundle, OperatingPoint(name="t"), engines=engines))
                   for i in range(2)], engines=engines).run().stats
    assert set(one) == set(two) and set(one["streams"][0]) == set(two["streams"][0])
    assert two["frames"] == 2 * one["frames"] == 2 * len(frames) and two["read"] == sum(s["read"] for s in two["streams"])
    assert one["fps"] > 0 and two["fps"] > 0


def test_a_frame_size_change_restarts_the_pipeline_and_is_counted(setup, capfd):
    bundle, frames = setup
    small = [np.ascontiguousarray(f[: f.shape[0] // 2, : f.shape[1] // 2]) for f in frames[:4]]
    clip = frames[:4] + small
    pipe = Pipeline(bundle, OperatingPoint(name="t", keyframe_interval=10))
    delivered = []
    session = Session([Stream("cam", FrameListSource(clip), pipe)], warmup=0)
    for tick in session.ticks():
        delivered += [(d.output.keyframe, d.output.labels.shape) for d in tick.frames]
    result = session.result()
    assert [k for k, _ in delivered] == [True, False, False, False, True, False, False, False]  # keyed at the change
    assert delivered[-1][1] == small[0].shape[:2]
    assert result.stats["streams"][0]["size_changes"] == 1 and result.stats["end"] == "end_of_stream"
    assert "frame size changed" in capfd.readouterr().err


def test_frames_too_small_end_the_stream_with_a_reason(setup):
    bundle, _ = setup
    tiny = [np.zeros((2, 2, 3), np.uint8)] * 3
    result = Session([Stream("tiny", FrameListSource(tiny), Pipeline(bundle, OperatingPoint(name="t")))]).run()
    stream = result.stats["streams"][0]
    assert stream["end"] == "source_error" and "2x2 are too small" in stream["error"]
    assert result.failed and result.stats["frames"] == 0
