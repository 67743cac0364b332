"""Keyframes done whole on a backend's device (``DeviceKeyframes``), run here on the CPU: the torch backend's own
code, and ONNX Runtime chaining the bundle's pre/post graphs around the backbone (``GraphKeyframes``). The frame goes
in as uint8 and labels come out; they agree with the host path (OpenCV resize, C upsampling + argmax)."""

import cv2
import numpy as np
import pytest

from edgeseg.bundle import load_bundle
from edgeseg.profiles import load_profile
from edgeseg.runtime.engines.device_chain import GraphKeyframes
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.engines.registry import open_engine
from edgeseg.runtime.pipeline.core import Pipeline


@pytest.fixture(scope="module", params=["torch", "onnxrt"])
def engines(tiny_set, request):
    """(bundle, the device path's engine, the host path's engine) of one backend."""
    bundle = load_bundle(tiny_set[1])
    if request.param == "torch":
        pytest.importorskip("torch")
        from edgeseg.runtime.engines.backends.torch_ref import TorchEngine
        return (bundle, TorchEngine(bundle, "backbone", device="cpu", device_keyframes=True),
                TorchEngine(bundle, "backbone", device="cpu", device_keyframes=False))
    return (bundle, GraphKeyframes(open_engine(bundle, "backbone"), open_engine(bundle, "pre"), open_engine(bundle, "post")),
            open_engine(bundle, "backbone"))


def frames(root, scale=1.0):
    out = []
    for p in sorted((root / "frames").glob("*.png"))[:6]:
        rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        out.append(rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR))
    return out


def test_the_bundle_holds_pre_and_post_graphs_for_any_frame_size(tiny_set):
    bundle = load_bundle(tiny_set[1])
    assert {"pre", "pre@0.5", "post"} <= set(bundle.graphs)
    frame = bundle.graphs["pre"].inputs[0]
    assert frame.dtype == "uint8" and isinstance(frame.shape[1], str) and isinstance(frame.shape[2], str)
    assert bundle.graphs["pre@0.5"].outputs[0].shape == [1, 3, 32, 48] and bundle.graphs["post"].outputs[0].dtype == "uint8"


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
    """Shrinking (1.5x: not a whole ratio) and enlarging on the device."""
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
    backend = "torch" if type(host).__name__ == "TorchEngine" else "onnxrt"
    labels = {}
    for name, engine in (("device", device), ("host", host)):
        with Pipeline(bundle, load_profile(profile), backend=backend, engines={"backbone": engine}) as pipe:
            labels[name] = [pipe.process(f).labels for f in clip]
    assert np.mean([np.mean(a == b) for a, b in zip(labels["device"], labels["host"])]) >= 0.999
