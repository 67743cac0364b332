"""The flow the runtime computes: DIS started at its finest scale on frames shrunk once (``flow_image`` +
``between``) is exactly DIS's own flow, wherever the estimator takes that path, and it takes it at the usual
frame sizes."""

import platform

import cv2
import numpy as np
import pytest

from edgeseg.errors import UsageError
from edgeseg.runtime.motion import kernels
from edgeseg.runtime.motion.coarse_flow import CoarseFlow
from edgeseg.runtime.motion.flow import FlowEstimator, full_flow, to_gray
from edgeseg.runtime.operating_point import FlowParams

X86 = platform.machine().lower() in ("x86_64", "amd64")


def moving_pair(h, w, seed=0):
    """Two gray frames of a blurred random texture, the second shifted and slightly zoomed."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.integers(0, 255, (h + 40, w + 40), dtype=np.uint8), (7, 7), 0)
    first = big[20:20 + h, 20:20 + w]
    m = np.float32([[1.02, 0, -3.5], [0, 1.02, 2.0]])
    second = cv2.warpAffine(big, m, (w + 40, h + 40))[20:20 + h, 20:20 + w]
    return np.ascontiguousarray(second), np.ascontiguousarray(first)


@pytest.mark.parametrize("h, w", [(360, 480), (540, 960), (480, 854), (250, 333), (64, 96), (36, 36)])
@pytest.mark.parametrize("params", [FlowParams(), FlowParams(finest_scale=1), FlowParams(finest_scale=3, patch_size=12),
                                    FlowParams(preset="medium", variational_iterations=2), FlowParams(scale=0.5),
                                    FlowParams(finest_scale=0)])
def test_the_runtime_flow_is_dis_own_flow(h, w, params):
    est = FlowEstimator(params)
    gray_t, gray_prev = moving_pair(h, w)
    flow = est.between(est.flow_image(gray_t), est.flow_image(gray_prev), (h, w))
    assert isinstance(flow, CoarseFlow) == (est.coarse_size((h, w)) is not None)
    np.testing.assert_array_equal(full_flow(flow), est.backward(gray_t, gray_prev))
    if isinstance(flow, CoarseFlow) and X86:  # the kernels read it as DIS's resize makes it (see test_kernels)
        labels = np.random.default_rng(1).integers(0, 12, (h, w), dtype=np.uint8)
        np.testing.assert_array_equal(kernels.warp([labels], flow)[0], kernels.warp([labels], flow.full())[0])


def test_the_coarse_path_is_taken_at_common_sizes_and_not_where_it_would_differ():
    est = FlowEstimator()
    for h, w in [(360, 480), (540, 960), (720, 1280), (1080, 1920), (480, 854), (64, 96)]:
        assert est.coarse_size((h, w)) == (h >> 2, w >> 2)
    assert est.coarse_size((20, 20)) is None  # DIS's pyramid would be shallower than its finest scale
    assert FlowEstimator(FlowParams(scale=0.5)).coarse_size((360, 480)) is None
    assert FlowEstimator(FlowParams(finest_scale=0)).coarse_size((360, 480)) is None


@pytest.mark.parametrize("params", [FlowParams(), FlowParams(finest_scale=3, patch_size=12), FlowParams(scale=0.5)])
def test_small_frames_do_not_change_the_flow_of_the_frames_after_them(params):
    """OpenCV's DIS picks its own scales for a frame too small for the operating point's and keeps them (and corrupts
    its heap on short wide frames, 12x40 at the default point); the estimator starts such frames at the deepest scale
    they allow and gives the next frames the flow a fresh estimator gives."""
    est = FlowEstimator(params)
    for h, w in [(12, 40), (24, 24), (40, 90), (13, 200)]:
        pair = moving_pair(h, w)
        flow = est.backward(*pair)
        assert flow.shape == (h, w, 2) and np.isfinite(flow).all()
        np.testing.assert_array_equal(flow, FlowEstimator(params).backward(*pair))
    for h, w in [(240, 320), (360, 480)]:
        pair = moving_pair(h, w)
        fresh = FlowEstimator(params)
        np.testing.assert_array_equal(est.backward(*pair), fresh.backward(*pair))
        got = est.between(*[est.flow_image(g) for g in pair], (h, w))
        np.testing.assert_array_equal(full_flow(got), full_flow(fresh.between(*[fresh.flow_image(g) for g in pair], (h, w))))


@pytest.mark.parametrize("h, w", [(7, 100), (100, 7), (11, 11), (3, 3)])
def test_a_frame_too_small_for_dis_is_refused_with_a_usage_error(h, w):
    est = FlowEstimator()
    with pytest.raises(UsageError, match="cannot run on .* images"):
        est.backward(*moving_pair(h, w))
    with pytest.raises(UsageError, match="too small"):
        est.between(*[est.flow_image(g) for g in moving_pair(h, w)], (h, w))


def test_an_empty_frame_and_a_frame_too_small_at_the_flow_scale_are_usage_errors_too():
    empty = np.zeros((0, 40), np.uint8)
    with pytest.raises(UsageError, match="0x0|40x0"):
        FlowEstimator().backward(empty, empty)
    with pytest.raises(UsageError, match=r"10x10 images \(the frame at flow scale 0.5\)"):
        FlowEstimator(FlowParams(scale=0.5, patch_size=12)).backward(*moving_pair(20, 20))


def test_the_runtime_flow_is_dis_own_flow_on_camvid(camvid):
    est = FlowEstimator()
    files = sorted((camvid / "val").glob("*.png"))[:12]
    grays = [to_gray(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)) for f in files]
    images = [est.flow_image(g) for g in grays]
    for t in range(1, len(grays)):
        flow = est.between(images[t], images[t - 1], grays[t].shape)
        assert isinstance(flow, CoarseFlow)
        np.testing.assert_array_equal(flow.full(), est.backward(grays[t], grays[t - 1]))
