"""Preprocessing by table lookup gives exactly the float32 arithmetic done per pixel, for every input spec."""

import numpy as np
import pytest

from edgeseg.bundle.manifest import InputSpec
from edgeseg.runtime.engines.preprocess import normalize, prepare, preprocess


def per_pixel(rgb, scale, mean, std, bgr=False, nchw=True):
    """The arithmetic the table stands for, done on every pixel: (x / scale - mean) / std in float32."""
    x = (rgb[..., ::-1] if bgr else rgb).astype(np.float32)
    if scale != 1.0:
        x *= np.float32(1.0 / scale)
    x -= np.asarray(mean, np.float32)
    x /= np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1) if nchw else x)[None]


@pytest.fixture
def rgb():
    return np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)


def test_normalize_and_preprocess_equal_the_per_pixel_arithmetic(rgb):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    expected = per_pixel(rgb, 255.0, mean, std)
    assert np.array_equal(normalize(rgb, mean, std)[None], expected)
    assert np.array_equal(preprocess(rgb, rgb.shape[:2], mean, std), expected)


@pytest.mark.parametrize("scale,mean,std,channels,layout", [
    (255.0, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], "rgb", "NCHW"),
    (1.0, [103.53, 116.28, 123.675], [57.375, 57.12, 58.395], "bgr", "NCHW"),
    (127.5, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], "rgb", "NHWC"),
    (1.0, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "bgr", "NHWC"),
])
def test_prepare_equals_the_per_pixel_arithmetic(rgb, scale, mean, std, channels, layout):
    spec = InputSpec(size=list(rgb.shape[:2]), mean=mean, std=std, layout=layout, channels=channels, scale=scale)
    out = prepare(rgb, spec, rgb.shape[:2])
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert np.array_equal(out, per_pixel(rgb, scale, mean, std, bgr=channels == "bgr", nchw=layout == "NCHW"))


def test_a_uint8_input_takes_the_pixels_as_they_are(rgb):
    spec = InputSpec(size=list(rgb.shape[:2]), mean=[0.0] * 3, std=[1.0] * 3, layout="NHWC", channels="bgr", dtype="uint8")
    assert np.array_equal(prepare(rgb, spec, rgb.shape[:2]), rgb[None, ..., ::-1])
