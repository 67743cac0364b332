"""The profiler on the tiny bundle: one row per operating point in DESIGN.md's format, accuracy split into
keyframes and propagated frames, temporal consistency, failing points marked while the sweep goes on."""

import json
import shutil

import numpy as np
import pytest

from edgeseg.bench.frames import attach_labels, load_clip
from edgeseg.bench.report import pareto, table
from edgeseg.bench.sweep import SweepOptions, frames_to_process, sweep, temporal_consistency
from edgeseg.bundle import load_bundle
from edgeseg.errors import UsageError
from edgeseg.profiles import load_profile

ROW_KEYS = {"profile", "status", "D", "S", "W", "R", "fusion", "frames", "fps", "speedup", "latency_ms", "stage_ms",
            "dropped", "miou", "miou_keyframes", "miou_propagated", "consistency", "ideal_speedup", "efficiency"}


@pytest.fixture(scope="module")
def clip(tiny_set):
    root, _ = tiny_set
    return attach_labels(load_clip(str(root / "frames")), root / "labels")


def test_rows_follow_the_profiler_contract(tiny_set, clip):
    bundle = load_bundle(tiny_set[1])
    ops, opts, calls = [load_profile(n) for n in ("evs01", "evs07", "grfp")], SweepOptions(repeat=2), []
    rows = sweep(bundle, ops, clip, opts, on_frame=lambda: calls.append(1))
    assert len(calls) == sum(frames_to_process(op, clip, opts) for op in ops)  # a progress bar's total is right
    assert [r["profile"] for r in rows] == ["evs01", "evs07", "grfp"]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["status"] == "ok", r
        assert r["fps"] > 0 and set(r["latency_ms"]) >= {"p50", "p99"}
        assert set(r["stage_ms"]) == {"decode", "flow", "warp", "segment", "refine", "fuse", "render"}
        assert 0 <= r["miou"] <= 100 and 0 <= r["consistency"] <= 100
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] == round(rows[1]["fps"] / rows[0]["fps"], 2)
    evs01, evs07 = rows[0], rows[1]
    assert evs01["keyframes"] == 10 and evs01["miou_propagated"] is None and evs01["miou_keyframes"] == evs01["miou"]
    assert evs07["keyframes"] == 2 and evs07["miou_keyframes"] is not None and evs07["miou_propagated"] is not None
    json.dumps(rows)  # JSON-ready as is
    # ideal speedup from the same run: (back-to-back keyframe cost + (S-1) x own non-key cost) / S against evs01
    for r in rows:
        key, other = r["frame_ms"]["key"], r["frame_ms"]["propagated"]
        assert r["ideal_speedup"] > 0 and r["efficiency"] == round(r["speedup"] / r["ideal_speedup"], 2)
        assert key is not None and (other is None) == (r["keyframes"] == r["frames"])
        # the keyframe cost is measured next to the point's own passes (a point keyed every frame is its own)
        b2b, s = r["frame_ms"]["back_to_back_key"], r["frames"] / r["keyframes"]
        assert b2b > 0
        ideal_ms = (b2b + (s - 1) * (other or 0.0)) / s
        assert r["ideal_speedup"] == round((1000 / evs01["fps"]) / ideal_ms, 2)
    assert evs07["ideal_speedup"] > evs01["ideal_speedup"]  # propagated frames cost less than keyframes


def test_a_point_the_bundle_cannot_run_is_marked_and_the_sweep_goes_on(tiny_set, clip, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_set[1], copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["graphs"]["gcrf"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    rows = sweep(load_bundle(copy), [load_profile(n) for n in ("gcrf", "evs07")], clip)
    assert rows[0]["status"] == "export_failed" and "gcrf" in rows[0]["error"] and rows[0]["fps"] is None
    assert rows[1]["status"] == "ok" and rows[1]["speedup"] is None  # no evs01 in this sweep
    assert "gcrf: export_failed" in table(rows)


def test_temporal_consistency_counts_pixels_that_follow_the_flow():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (20, 30), dtype=np.uint8)
    still = np.zeros((20, 30, 2), np.float32)
    assert temporal_consistency([a, a.copy()], [still]) == 100.0
    shifted = np.roll(a, 3, axis=1)
    flow = still.copy()
    flow[..., 0] = -3  # frame t samples frame t-1 three pixels to the left
    inside = temporal_consistency([a, shifted], [flow])
    assert inside > 85.0  # all but the clamped border columns
    assert temporal_consistency([a, shifted], [still]) < 50.0


def test_pareto_front_keeps_only_undominated_points():
    def row(name, fps, miou):
        return {"profile": name, "status": "ok", "fps": fps, "miou": miou}
    rows = [row("a", 10, 60), row("b", 50, 55), row("c", 40, 50), row("d", 200, 45), row("e", 5, 59)]
    assert [r["profile"] for r in pareto(rows)] == ["a", "b", "d"]


def test_labels_that_match_no_frame_are_a_usage_error(tiny_set, tmp_path):
    root, _ = tiny_set
    (tmp_path / "labels").mkdir()
    shutil.copy(root / "labels" / "000.png", tmp_path / "labels" / "frame_a.png")
    with pytest.raises(UsageError, match="matched to frames by file stem"):
        attach_labels(load_clip(str(root / "frames")), tmp_path / "labels")


def test_video_frames_are_named_by_number(tmp_path):
    import cv2
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(4):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    clip = load_clip(str(path), limit=3)
    assert clip.names == ["000000", "000001", "000002"] and len(clip.frames) == 3


def _rotating_clip(n=6, size=(120, 160)):
    """A textured scene turning and zooming slowly: motion that is not a whole number of pixels."""
    import cv2
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.integers(0, 255, (size[0] * 2, size[1] * 2, 3)).astype(np.uint8), (7, 7), 0)
    centre = (size[1], size[0])
    frames = [cv2.warpAffine(base, cv2.getRotationMatrix2D(centre, 1.5 * t, 1 + 0.02 * t), base.shape[1::-1])
              [size[0] // 2:size[0] // 2 + size[0], size[1] // 2:size[1] // 2 + size[1]].copy() for t in range(n)]
    labels = np.zeros(size, np.uint8)
    labels[:, size[1] // 2:] = 1
    labels[size[0] // 3:2 * size[0] // 3, size[1] // 4:3 * size[1] // 4] = 2
    return frames, labels


def test_propagated_frames_do_not_score_100_percent_by_construction():
    from edgeseg.bench.frames import Clip
    from edgeseg.bench.sweep import consistency_flows
    from edgeseg.runtime.motion import kernels
    from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
    from edgeseg.runtime.pipeline.core import Propagator
    frames, first = _rotating_clip()
    labels = [first, *Propagator().propagate(first, frames[0], frames[1:])]
    # measured with the propagation's own flow and warp, every propagated frame agrees with its predecessor
    dis = FlowEstimator()
    own = [dis.backward(to_gray(frames[t]), to_gray(frames[t - 1])) for t in range(1, len(frames))]
    assert all((labels[t] == kernels.warp([labels[t - 1]], own[t - 1])[0]).all() for t in range(1, len(frames)))
    # the profiler's score uses another estimator (Farneback), so it measures something
    score = temporal_consistency(labels, consistency_flows(Clip("rot", frames, [str(i) for i in range(len(frames))])))
    assert 90.0 < score < 100.0


def test_progress_bars_say_what_they_wait_for_and_flows_have_their_own(tiny_set, clip, capsys):
    # issue 30: one unlabelled bar sat at 0/816 while the consistency flows were computed (first ETA 5:46:42)
    bundle = load_bundle(tiny_set[1])
    ops = [load_profile(n) for n in ("evs01", "evs07")]
    calls, pairs = [], []
    rows = sweep(bundle, ops, clip, SweepOptions(), on_frame=lambda: calls.append(1), progress=True)
    err = capsys.readouterr().err
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert len(calls) == sum(frames_to_process(op, clip, SweepOptions()) for op in ops)  # on_frame still told of each
    flows_done = err.rindex("consistency flows (Farneback): 100%")
    assert f"{len(clip.frames) - 1}/{len(clip.frames) - 1}" in err[:flows_done + 80]
    assert flows_done < err.index("profiling evs01 (1/2)")  # the precompute ends before the first point's bar starts
    for k, op in enumerate(ops, 1):
        total = frames_to_process(op, clip, SweepOptions())
        assert f"profiling {op.name} ({k}/2): 100%" in err and f"{total}/{total}" in err
    assert "ok " in err and " FPS" in err  # each point's bar ends with its status and FPS
    from edgeseg.bench.sweep import consistency_flows
    consistency_flows(clip, on_pair=lambda: pairs.append(1))
    assert len(pairs) == len(clip.frames) - 1
    sweep(bundle, ops[:1], clip, SweepOptions())
    assert capsys.readouterr().err == ""  # no bars unless asked


def test_measure_decodes_with_a_labelled_bar_and_returns_rows(tiny_set, capsys):
    from edgeseg.bench.sweep import measure
    root, bundle = tiny_set
    machine, rows, clip = measure(str(bundle), str(root / "frames"), str(root / "labels"), ["evs07"], 6, SweepOptions())
    err = capsys.readouterr().err
    assert "decoding frames (frames): 100%" in err and "6/6" in err
    assert len(clip.frames) == 6 and clip.labelled == 6 and rows[0]["miou"] is not None and machine["cpu"]
    with pytest.raises(UsageError, match="--frames"):
        measure(str(bundle), str(root / "frames"), None, ["evs07"], 1, SweepOptions())
