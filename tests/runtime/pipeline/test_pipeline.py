"""The EVS pipeline on the tiny bundle: operating point semantics, refinement confined to the IAM mask,
propagation of a known motion, switching and live overlap."""

import time

import cv2
import numpy as np
import pytest

from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.profiles import OperatingPoint
from edgeseg.runtime.engines.segment import BundleSegmenter
from edgeseg.runtime.motion import kernels
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.pipeline.core import Pipeline, Propagator


@pytest.fixture(scope="module")
def setup(tiny_set):
    root, bundle = tiny_set
    return load_bundle(bundle), [read_rgb(p) for p in list_images(root / "frames")]


def run_op(bundle, frames, **kw):
    with Pipeline(bundle, OperatingPoint(name="t", **kw)) as p:
        return [p.process(f) for f in frames]


def test_interval_1_is_exactly_the_per_frame_backbone(setup):
    bundle, frames = setup
    outs = run_op(bundle, frames, keyframe_interval=1, warp=True, refine=True)
    seg = BundleSegmenter(bundle)
    assert all(o.keyframe for o in outs)
    for o, f in zip(outs, frames):
        np.testing.assert_array_equal(o.labels, seg(f))


def test_interval_5_warps_on_4_of_5_frames(setup):
    bundle, frames = setup
    outs = run_op(bundle, frames, keyframe_interval=5, warp=True)
    assert [o.keyframe for o in outs] == [True, False, False, False, False] * 2
    assert [o.warped for o in outs] == [False, True, True, True, True] * 2


def test_without_warp_the_last_keyframe_labels_are_reused(setup):
    bundle, frames = setup
    outs = run_op(bundle, frames[:6], keyframe_interval=3, warp=False)
    assert [o.keyframe for o in outs] == [True, False, False, True, False, False]
    for k in (0, 3):
        np.testing.assert_array_equal(outs[k + 1].labels, outs[k].labels)
        np.testing.assert_array_equal(outs[k + 2].labels, outs[k].labels)


def test_half_resolution_keyframes_use_the_half_graph(setup):
    bundle, frames = setup
    outs = run_op(bundle, frames[:2], downscale=0.5, keyframe_interval=1)
    np.testing.assert_array_equal(outs[0].labels, BundleSegmenter(bundle, downscale=0.5)(frames[0]))


@pytest.fixture(scope="module")
def textured(tiny_root, tmp_path_factory):
    """The tiny set with a backbone whose labels follow the texture (random init gives near-constant labels,
    which no flow can make inconsistent)."""
    import shutil

    import torch

    from edgeseg.export.bundle import export_bundle
    from edgeseg.models.checkpoint import load_checkpoint, save_checkpoint
    from tests.conftest import tiny_options
    root = tmp_path_factory.mktemp("textured")
    for sub in ("frames", "labels"):
        shutil.copytree(tiny_root / sub, root / sub)
    (root / "model").mkdir()
    shutil.copy(tiny_root / "model" / "refiner.pt", root / "model" / "refiner.pt")
    backbone, ckpt = load_checkpoint(tiny_root / "model" / "backbone.pt")
    with torch.no_grad():
        backbone.classifier.weight.mul_(40.0)
        backbone.classifier.bias.zero_()
    from edgeseg.models.checkpoint import META_KEYS
    meta = {k: ckpt[k] for k in META_KEYS}
    save_checkpoint(root / "model" / "backbone.pt", backbone, ckpt["arch"], ckpt["config"], meta)
    bundle = load_bundle(export_bundle(tiny_options(root, "bundle", heads=("refiner",))))
    return bundle, [read_rgb(p) for p in list_images(root / "frames")]


def test_refinement_only_changes_pixels_inside_the_iam_mask(textured):
    bundle, frames = textured
    plain = run_op(bundle, frames, keyframe_interval=2, warp=True)
    refined = run_op(bundle, frames, keyframe_interval=2, warp=True, refine=True)
    dis = FlowEstimator()
    iam = OperatingPoint(name="t").iam
    checked = 0
    for t in range(1, len(frames), 2):  # propagated frames: the previous frame is a keyframe in both runs
        np.testing.assert_array_equal(plain[t - 1].labels, refined[t - 1].labels)
        g, gp = to_gray(frames[t]), to_gray(frames[t - 1])
        back, fwd = dis.backward(g, gp), dis.backward(gp, g)
        warped = kernels.warp([refined[t - 1].labels], back)[0]
        np.testing.assert_array_equal(warped, plain[t].labels)
        mask, count = kernels.iam_inconsistency(warped, back, fwd)
        soft = cv2.blur(cv2.dilate(mask, np.ones((iam.dilate,) * 2, np.uint8)).astype(np.float32), (iam.blur,) * 2)
        changed = refined[t].labels != plain[t].labels
        assert not (changed & (soft <= 0)).any()
        assert refined[t].refined_pixels == (int((soft > 0).sum()) if count else 0)
        checked += refined[t].refined_pixels
    assert checked > 0  # the refiner did run somewhere


@pytest.mark.parametrize("fusion", ["stgru", "netwarp", "gcrf"])
def test_fusions_run_on_every_frame(setup, fusion):
    bundle, frames = setup
    outs = run_op(bundle, frames[:5], keyframe_interval=1, fusion=fusion)
    assert all(o.keyframe and o.labels.shape == frames[0].shape[:2] for o in outs)


def test_propagator_reproduces_a_known_translation():
    rng = np.random.default_rng(3)
    canvas = cv2.GaussianBlur(rng.integers(0, 255, (140, 200, 3)).astype(np.uint8), (7, 7), 0)
    labels_big = (np.arange(200)[None, :] // 10 + np.arange(140)[:, None] // 10 * 3).astype(np.uint8) % 11
    first, lab0 = canvas[20:120, 20:180], labels_big[20:120, 20:180]
    # the camera moves 3 px right and 2 px down per frame: content shifts left/up
    frames = [canvas[20 + 2 * k:120 + 2 * k, 20 + 3 * k:180 + 3 * k] for k in (1, 2)]
    out = list(Propagator().propagate(lab0, first, frames))
    for k, labels in enumerate(out, start=1):
        truth = labels_big[20 + 2 * k:120 + 2 * k, 20 + 3 * k:180 + 3 * k]
        interior = (slice(15, -15), slice(15, -15))
        assert (labels[interior] == truth[interior]).mean() == 1.0


def test_profile_needing_a_missing_graph_is_refused(tiny_root, tmp_path):
    from edgeseg.errors import UsageError
    from edgeseg.export.bundle import export_bundle
    from tests.conftest import tiny_options
    bare = load_bundle(export_bundle(tiny_options(tiny_root, str(tmp_path / "bare"), heads=())))
    with pytest.raises(UsageError, match="needs graph.*refiner"):
        Pipeline(bare, OperatingPoint(name="evs06", keyframe_interval=5, refine=True))


def test_live_overlap_carries_late_keyframes_through_the_stored_flows(setup):
    """In overlap mode no frame waits for the backbone; a keyframe result carried to a later frame equals
    what sync mode propagated from the same keyframe (same flows, same nearest warps)."""
    bundle, frames = setup
    clip = frames + frames[::-1]
    sync = run_op(bundle, clip, keyframe_interval=5, warp=True)
    with Pipeline(bundle, OperatingPoint(name="t", keyframe_interval=5, warp=True), overlap=True) as p:
        outs = []
        for f in clip:
            outs.append(p.process(f))
            time.sleep(0.1)  # a paced source: the background keyframe finishes before the next frame
    assert outs[0].keyframe and not any(o.keyframe for o in outs[1:])
    assert [o.index for o in outs if o.launched_keyframe] == [5, 10, 15]
    assert [o.source_key for o in outs[:6]] == [0] * 6
    carried = [o for o in outs if o.source_key > 0]
    assert {o.source_key for o in carried} == {5, 10, 15}
    for o in carried:
        if o.launched_keyframe:  # sync mode segments this frame itself; overlap shows the propagated labels
            assert sync[o.index].keyframe
            continue
        assert sync[o.index].source_key == o.source_key
        np.testing.assert_array_equal(o.labels, sync[o.index].labels)


def test_overlap_is_off_where_nothing_can_be_propagated(setup):
    bundle, _ = setup
    with Pipeline(bundle, OperatingPoint(name="t", keyframe_interval=5, warp=False), overlap=True) as p:
        assert not p.overlap


def test_a_switch_that_cannot_happen_leaves_the_current_point_running(setup):
    from edgeseg.errors import UsageError
    from tests.bundle.test_manifest import V1
    bundle, frames = setup
    bare = load_bundle(V1)  # no refiner
    with Pipeline(bare, OperatingPoint(name="t", keyframe_interval=2)) as p:
        p.process(np.zeros((64, 96, 3), np.uint8))
        with pytest.raises(UsageError, match="refiner"):
            p.switch(OperatingPoint(name="r", keyframe_interval=2, refine=True))
        assert p.op.name == "t" and not p.process(np.zeros((64, 96, 3), np.uint8)).keyframe


def test_switching_in_live_mode_waits_for_the_background_keyframe(setup):
    bundle, frames = setup
    with Pipeline(bundle, OperatingPoint(name="a", keyframe_interval=2), overlap=True) as p:
        for f in frames[:3]:
            p.process(f)
        p.switch(OperatingPoint(name="b", keyframe_interval=3, downscale=0.5))  # closes the D=1 backbone
        outs = [p.process(f) for f in frames[3:]]
    assert outs[0].keyframe and p._pending is None


def test_live_mode_keeps_a_core_for_the_propagation(tiny_set):
    """Live mode's thread budget: the engine gets cores - 1 threads that do not spin; sync mode keeps ONNX Runtime's
    default thread count, not spinning either; an explicit budget wins."""
    import os

    from edgeseg.profiles import load_profile
    from edgeseg.runtime.engines.thread_budget import ThreadBudget, thread_budget
    _, bundle_dir = tiny_set
    bundle = load_bundle(bundle_dir)
    op = load_profile("evs07")

    def session_options(pipe):
        opts = pipe.backbone.options
        return opts.intra_op_num_threads, opts.get_session_config_entry("session.intra_op.allow_spinning")

    with Pipeline(bundle, op, overlap=True) as live:
        assert session_options(live) == (max(1, (os.cpu_count() or 1) - 1), "0")
        assert live.kernel_threads == thread_budget(live=True).kernels
    with Pipeline(bundle, op) as sync:
        assert session_options(sync) == (0, "0")  # 0: ONNX Runtime's default, every core
    with Pipeline(bundle, op, overlap=True, threads=ThreadBudget(engine=1, engine_spinning=True, flow=1, kernels=3)) as given:
        assert session_options(given) == (1, "1") and given.kernel_threads == 3
    assert thread_budget(live=True, cores=8) == ThreadBudget(engine=7, engine_spinning=False, flow=2, kernels=4)
    assert thread_budget(live=True, cores=1).engine == 1
