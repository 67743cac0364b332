"""C kernels against their NumPy references: exact agreement on random inputs, including flows that are
out of range, huge or not finite, coarse flows (DIS's finest scale, interpolated as they are read), maps at
1/1, 1/4 and 1/8 of the flow's resolution, and odd sizes."""

import platform

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseg.runtime.motion import kernels, reference
from edgeseg.runtime.motion.coarse_flow import CoarseFlow

pytestmark = pytest.mark.skipif(kernels.BACKEND != "c", reason="the C kernels are not built")


def sprinkle_non_finite(rng, *arrays):
    """NaN and +-inf in about a fifth of the values (a broken model's scores): C and NumPy must agree on them too."""
    for a in arrays:
        flat = a.reshape(-1)
        picks = rng.choice(flat.size, size=max(1, flat.size // 5), replace=False)
        flat[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), size=picks.size)


def nasty_flow(rng, h, w, scale=20.0):
    flow = (rng.standard_normal((h, w, 2)) * scale).astype(np.float32)
    flat = flow.reshape(-1)
    picks = rng.choice(flat.size, size=max(1, flat.size // 10), replace=False)
    flat[picks] = rng.choice(np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, 1e6], np.float32), size=picks.size)
    return flow


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 70), w=st.integers(1, 70), stride=st.sampled_from([1, 4, 8]),
       threads=st.integers(1, 5))
def test_warp_equals_reference(seed, h, w, stride, threads):
    rng = np.random.default_rng(seed)
    flow = nasty_flow(rng, h * stride, w * stride)
    maps = [rng.integers(0, 255, (h, w), dtype=np.uint8),
            rng.standard_normal((3, h, w)).astype(np.float16),
            rng.standard_normal((5, h, w)).astype(np.float32)]
    outs = kernels.warp(maps, flow, threads=threads)
    for m, o in zip(maps, outs):
        assert o.dtype == m.dtype and o.shape == m.shape
        np.testing.assert_array_equal(o, reference.warp_nearest(m, flow))


def test_warp_handles_non_contiguous_input_and_many_maps():
    rng = np.random.default_rng(1)
    flow = nasty_flow(rng, 32, 48)
    base = rng.standard_normal((4, 32, 96)).astype(np.float32)[:, :, ::2]  # strided view
    maps = [base] * 20  # more than one pass of 16
    outs = kernels.warp(maps, flow)
    assert len(outs) == 20
    np.testing.assert_array_equal(outs[19], reference.warp_nearest(np.ascontiguousarray(base), flow))


def test_known_translation_is_reproduced():
    labels = np.arange(40 * 60, dtype=np.int64).reshape(40, 60) % 251
    labels = labels.astype(np.uint8)
    flow = np.zeros((40, 60, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3.0, 2.0  # frame t shows t-1 shifted right by 3, up by 2
    out = kernels.warp([labels], flow)[0]
    np.testing.assert_array_equal(out[:37, 3:], labels[2:39, :57])


def coarse(rng, h, w, up_y, up_x, nasty=True):
    grid = nasty_flow(rng, h, w, 5.0) if nasty else (rng.standard_normal((h, w, 2)) * 5).astype(np.float32)
    return CoarseFlow(grid, (h * up_y + rng.integers(0, up_y), w * up_x + rng.integers(0, up_x)), float(up_x))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 30), w=st.integers(1, 30), up_y=st.integers(1, 5),
       up_x=st.integers(1, 5), stride=st.sampled_from([1, 4, 8]), threads=st.integers(1, 5))
def test_warp_by_a_coarse_flow_equals_reference(seed, h, w, up_y, up_x, stride, threads):
    rng = np.random.default_rng(seed)
    flow = coarse(rng, h, w, up_y, up_x)
    H, W = flow.size
    full = reference.upsample_flow(flow.grid, flow.size, flow.factor)
    maps = [rng.integers(0, 255, (max(1, H // stride), max(1, W // stride)), dtype=np.uint8),
            rng.standard_normal((3, max(1, H // stride), max(1, W // stride))).astype(np.float32)]
    for m, o in zip(maps, kernels.warp(maps, flow, threads=threads)):
        np.testing.assert_array_equal(o, reference.warp_nearest(m, full))
        np.testing.assert_array_equal(o, kernels.warp([m], full, threads=threads)[0])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 20), w=st.integers(1, 20), up=st.integers(1, 4),
       threads=st.integers(1, 4))
def test_iam_with_coarse_flows_equals_reference(seed, h, w, up, threads):
    rng = np.random.default_rng(seed)
    back = coarse(rng, h, w, up, up)
    fwd = CoarseFlow(nasty_flow(rng, h, w, 2.0), back.size, back.factor)
    labels = rng.integers(0, 4, back.size, dtype=np.uint8)
    mask, count = kernels.iam_inconsistency(labels, back, fwd, threads=threads)
    expected = reference.iam_inconsistency(labels, *(reference.upsample_flow(f.grid, f.size, f.factor) for f in (back, fwd)))
    np.testing.assert_array_equal(mask, expected)
    assert count == int(expected.sum())


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="OpenCV's NEON resize fuses multiply-adds, so its flow can differ from the plain ones by an ulp")
@pytest.mark.parametrize("grid_hw, size_hw", [((90, 120), (360, 480)), ((135, 240), (540, 960)),
                                              ((120, 213), (480, 854)), ((17, 23), (70, 95)), ((1, 1), (4, 4))])
def test_a_coarse_flow_means_what_cv2_resize_makes_of_it(grid_hw, size_hw):
    """DIS's own last step is cv2.resize then the scaling (CoarseFlow.full): the kernels' arithmetic must be that."""
    flow = CoarseFlow((np.random.default_rng(5).standard_normal((*grid_hw, 2)) * 7).astype(np.float32), size_hw, 4.0)
    np.testing.assert_array_equal(reference.upsample_flow(flow.grid, flow.size, flow.factor), flow.full())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 60), w=st.integers(1, 60), threads=st.integers(1, 4))
def test_iam_equals_reference(seed, h, w, threads):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, (h, w), dtype=np.uint8)
    back, fwd = nasty_flow(rng, h, w, 3.0), nasty_flow(rng, h, w, 3.0)
    mask, count = kernels.iam_inconsistency(labels, back, fwd, threads=threads)
    expected = reference.iam_inconsistency(labels, back, fwd)
    np.testing.assert_array_equal(mask, expected)
    assert count == int(expected.sum())


def test_iam_is_empty_for_consistent_flow():
    labels = np.random.default_rng(0).integers(0, 5, (30, 40), dtype=np.uint8)
    zero = np.zeros((30, 40, 2), np.float32)
    mask, count = kernels.iam_inconsistency(labels, zero, zero)
    assert count == 0 and not mask.any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), H=st.integers(1, 64), W=st.integers(1, 64), stride=st.sampled_from([1, 2, 4]),
       L=st.integers(1, 12), threads=st.integers(1, 4), non_finite=st.booleans())
def test_blend_equals_reference(seed, H, W, stride, L, threads, non_finite):
    rng = np.random.default_rng(seed)
    h, w = max(1, H // stride), max(1, W // stride)
    mask = np.where(rng.random((H, W)) < 0.3, rng.random((H, W)), 0).astype(np.float32)
    pr, pw = rng.random((L, h, w), dtype=np.float32), rng.random((L, h, w), dtype=np.float32)
    if non_finite:
        sprinkle_non_finite(rng, pr, pw)
        mask[rng.random((H, W)) < 0.05] = np.nan  # never > 0: the labels stay
    labels = rng.integers(0, L, (H, W), dtype=np.uint8)
    expected = reference.blend_argmax(mask, pr, pw, labels)
    touched = kernels.blend_argmax(mask, pr, pw, labels, threads=threads)
    np.testing.assert_array_equal(labels, expected)
    assert touched == int((mask > 0).sum())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 50), w=st.integers(1, 50), alpha=st.floats(0, 1))
def test_overlay_equals_reference(seed, h, w, alpha):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, 12, (h, w), dtype=np.uint8)
    palette = rng.integers(0, 256, (12, 3), dtype=np.uint8)
    table = np.zeros((256, 3), np.uint8)
    table[:12] = palette
    out = kernels.overlay(rgb, labels, palette, alpha)
    np.testing.assert_array_equal(out, reference.overlay(rgb, labels, table, int(round(alpha * 256))))


@pytest.mark.parametrize("call", [
    lambda: kernels.warp([np.zeros((4, 4), np.int32)], np.zeros((4, 4, 2), np.float32)),
    lambda: kernels.warp([np.zeros((4, 4), np.uint8)], np.zeros((4, 4, 3), np.float32)),
    lambda: kernels.warp([np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8)], np.zeros((4, 4, 2), np.float32)),
    lambda: kernels.iam_inconsistency(np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.float32), np.zeros((5, 4, 2), np.float32)),
    lambda: kernels.warp([np.zeros((4, 4), np.uint8)], CoarseFlow(np.zeros((8, 8, 2), np.float32), (4, 4), 4.0)),
    lambda: kernels.warp([np.zeros((4, 4), np.uint8)], CoarseFlow(np.zeros((2, 2, 2), np.float32), (4, 4), 0.0)),
    lambda: kernels.warp([np.zeros((4, 4), np.uint8)], CoarseFlow(np.zeros((2, 2), np.float32), (4, 4), 2.0)),
    lambda: kernels.blend_argmax(np.zeros((4, 4), np.float32), np.zeros((2, 2, 2), np.float32), np.zeros((2, 2, 2), np.float32),
                                 np.zeros((4, 5), np.uint8)),
    lambda: kernels.overlay(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 3), np.uint8), np.zeros((3, 3), np.uint8)),
    lambda: kernels.normalize(np.zeros((4, 4, 3), np.float32), np.zeros((3, 256), np.float32)),
    lambda: kernels.normalize(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 255), np.float32)),
])
def test_bad_arguments_raise_kernel_error(call):
    with pytest.raises(kernels.KernelError):
        call()


@pytest.mark.parametrize("full_h, full_w, factor", [(4, 0, 2.0), (0, 4, 2.0), (-4, 4, 2.0), (4, 4, float("nan"))])
def test_the_c_kernels_refuse_an_inconsistent_coarse_flow_themselves(full_h, full_w, factor):
    """Below the Python checks: a coarse flow with one full size zero would divide by zero inside the kernel."""
    flow, labels = np.zeros((2, 2, 2), np.float32), np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="coarse flow"):
        kernels._c.warp(flow, [labels], [np.empty_like(labels)], 4, 4, [1], 1, full_h, full_w, factor)
    with pytest.raises(ValueError, match="coarse flow"):
        kernels._c.iam(labels, flow, flow, np.empty_like(labels), np.empty_like(labels), 1, full_h, full_w, factor,
                       full_h, full_w, factor)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), c=st.integers(1, 20), h=st.integers(1, 40), w=st.integers(1, 40),
       H=st.integers(1, 90), W=st.integers(1, 90), threads=st.integers(1, 5), non_finite=st.booleans())
def test_upsample_argmax_equals_reference(seed, c, h, w, H, W, threads, non_finite):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((c, h, w)).astype(np.float32)
    scores[:, ::3] = scores[:, :1, :1]  # ties: the first maximal class wins in both
    if non_finite:
        sprinkle_non_finite(rng, scores)
    np.testing.assert_array_equal(kernels.upsample_argmax(scores, (H, W), threads), reference.upsample_argmax(scores, (H, W)))


def test_upsample_argmax_is_bilinear_like_cv2_resize():
    import cv2
    scores = np.random.default_rng(3).standard_normal((11, 30, 40)).astype(np.float32)
    for size in [(90, 120), (135, 240), (30, 40), (17, 23)]:
        up = np.stack([cv2.resize(s, size[::-1], interpolation=cv2.INTER_LINEAR) for s in scores])
        assert (kernels.upsample_argmax(scores, size) == up.argmax(0)).mean() > 0.999


def test_the_worker_pool_serves_concurrent_callers_and_forked_children():
    """The pool runs one call at a time; callers that find it busy use threads of their own. Either way every
    result is the reference's, and a forked child (whose pool threads do not exist) starts a pool of its own."""
    import multiprocessing
    import threading
    rng = np.random.default_rng(7)
    flow = nasty_flow(rng, 96, 128)
    maps = [rng.integers(0, 255, (96, 128), dtype=np.uint8), rng.standard_normal((4, 24, 32)).astype(np.float32)]
    want = [reference.warp_nearest(m, flow) for m in maps]
    bad = []

    def hammer() -> None:
        for _ in range(40):
            for m, w in zip(maps, want):
                if not np.array_equal(kernels.warp([m], flow, 3)[0], w):
                    bad.append(1)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    assert not bad and not any(t.is_alive() for t in workers)
    def in_child() -> None:
        hammer()
        raise SystemExit(1 if bad else 0)

    child = multiprocessing.get_context("fork").Process(target=in_child)
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0  # same results, no hang on the parent's pool threads (absent in the child)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 60), w=st.integers(1, 60), planar=st.booleans(), bgr=st.booleans(),
       threads=st.integers(1, 5))
def test_normalize_equals_reference(seed, h, w, planar, bgr, threads):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    table = rng.standard_normal((3, 256)).astype(np.float32)
    out = kernels.normalize(rgb[:, ::-1] if seed % 2 else rgb, table, planar, bgr, threads)  # odd seeds: a strided view
    np.testing.assert_array_equal(out, reference.normalize(np.ascontiguousarray(rgb[:, ::-1] if seed % 2 else rgb),
                                                           table, planar, bgr))
