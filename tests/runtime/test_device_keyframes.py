"""Keyframes done whole on the torch backend's device (``DeviceKeyframes``), run here on the CPU: the frame goes
in as uint8 and labels come out; they agree with the host path (OpenCV resize, C upsampling + argmax)."""

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")

from edgeseg.profiles import load_profile  # noqa: E402
from edgeseg.runtime.backends.torch_ref import TorchEngine  # noqa: E402
from edgeseg.runtime.bundle import load_bundle  # noqa: E402
from edgeseg.runtime.network_io import NetworkIO  # noqa: E402
from edgeseg.runtime.pipeline import Pipeline  # noqa: E402


@pytest.fixture(scope="module")
def engines(tiny_set):
    bundle = load_bundle(tiny_set[1])
    return (bundle, TorchEngine(bundle, "backbone", device="cpu", device_keyframes=True),
            TorchEngine(bundle, "backbone", device="cpu", device_keyframes=False))


def frames(root, scale=1.0):
    out = []
    for p in sorted((root / "frames").glob("*.png"))[:6]:
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        if scale != 1.0:
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        out.append(rgb)
    return out


def test_a_frame_at_the_network_size_gives_the_host_paths_scores_and_labels(tiny_set, engines):
    bundle, device, host = engines
    io = NetworkIO(bundle, "backbone")
    for rgb in frames(tiny_set[0]):
        got, want = io.keyframe(device, rgb), io.keyframe(host, rgb)
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got.feats, want.feats, rtol=0, atol=1e-5)
        assert got.frame_labels.dtype == np.uint8 and got.frame_labels.shape == rgb.shape[:2]
        assert np.mean(got.frame_labels == want.frame_labels) >= 0.999


@pytest.mark.parametrize("scale", [2.0, 1.5, 0.75])
def test_resized_frames_agree_with_the_host_path(tiny_set, engines, scale):
    """Shrinking (area; 1.5x: not a whole ratio) and enlarging (bilinear) on the device."""
    bundle, device, host = engines
    io = NetworkIO(bundle, "backbone")
    agree = [np.mean(io.keyframe(device, rgb).frame_labels == io.keyframe(host, rgb).frame_labels)
             for rgb in frames(tiny_set[0], scale)]
    assert min(agree) >= 0.99, agree


def test_without_keep_only_labels_come_back(tiny_set, engines):
    bundle, device, _ = engines
    io = NetworkIO(bundle, "backbone")
    rgb = frames(tiny_set[0])[0]
    light, full = io.keyframe(device, rgb, keep=False), io.keyframe(device, rgb, keep=True)
    assert light.scores is None and light.feats is None
    np.testing.assert_array_equal(light.frame_labels, full.frame_labels)


@pytest.mark.parametrize("profile", ["evs07", "evs06"])
def test_the_pipeline_runs_its_keyframes_on_the_device(tiny_set, engines, profile):
    bundle, device, host = engines
    clip = frames(tiny_set[0])
    labels = {}
    for name, engine in (("device", device), ("host", host)):
        with Pipeline(bundle, load_profile(profile), backend="torch", engines={"backbone": engine}) as pipe:
            labels[name] = [pipe.process(f).labels for f in clip]
    assert np.mean([np.mean(a == b) for a, b in zip(labels["device"], labels["host"])]) >= 0.999
