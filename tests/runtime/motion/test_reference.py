import subprocess
import sys

import numpy as np

from edgeseg.runtime.motion.reference import warp_nearest


def test_translation_reproduces_shifted_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, size=(40, 64), dtype=np.uint8)
    flow = np.zeros((40, 64, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3.0, 2.0  # frame t pixel x came from x-3, y+2 in t-1
    out = warp_nearest(labels, flow)
    assert np.array_equal(out[:-2, 3:], labels[2:, :-3])


def test_quarter_resolution_maps_scale_the_flow():
    probs = np.arange(2 * 10 * 16, dtype=np.float32).reshape(2, 10, 16)
    flow = np.zeros((40, 64, 2), np.float32)
    flow[..., 0] = 8.0  # 8 full-res px = 2 map px at 1/4
    out = warp_nearest(probs, flow)
    assert np.array_equal(out[:, :, :-2], probs[:, :, 2:])
    assert np.array_equal(out[:, :, -1], probs[:, :, -1])  # clamped to the border


def test_non_finite_and_huge_flow_are_safe():
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    flow = np.zeros((3, 4, 2), np.float32)
    flow[0, 0] = (np.nan, np.inf)
    flow[1, 1] = (1e30, -1e30)
    out = warp_nearest(labels, flow)
    assert out[0, 0] == labels[0, 0]  # non-finite components count as 0: stays in place
    assert out[1, 1] == labels[0, 3]  # clamped to the top-right corner


def test_runtime_imports_without_torch():
    code = ("import sys, edgeseg.runtime, edgeseg.runtime.motion.flow, edgeseg.runtime.motion.reference, edgeseg.runtime.engines.preprocess;"
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
