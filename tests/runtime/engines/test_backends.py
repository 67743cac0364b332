"""Backends: the torch reference backend agrees with ONNX Runtime on the tiny bundle and refuses a changed
checkpoint; the TensorRT backend and the CUDA buffers run where TensorRT / a GPU exist (skipped here with
the reason) and the TensorRT backend fails in one line where they do not."""

import json
import shutil

import numpy as np
import pytest

from edgeseg.bundle import BundleError, load_bundle
from edgeseg.errors import MissingDependencyError
from edgeseg.profiles import OperatingPoint
from edgeseg.runtime.engines.backends.tensorrt_env import import_cudart, import_tensorrt
from edgeseg.runtime.engines.registry import BACKENDS, best_backend, open_engine
from edgeseg.runtime.pipeline.core import Pipeline
from tests.conftest import run_cli


def _feed(engine, rng):
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in engine.inputs.items()}


@pytest.mark.parametrize("key", ["backbone", "backbone@0.5", "refiner", "stgru", "netwarp", "gcrf"])
def test_torch_backend_matches_onnxrt(tiny_set, key):
    bundle = load_bundle(tiny_set[1])
    ref, ort = open_engine(bundle, key, "torch"), open_engine(bundle, key, "onnxrt")
    assert ref.inputs == ort.inputs and ref.output_names == ort.output_names
    feed = _feed(ort, np.random.default_rng(1))
    a, b = ref.infer(feed), ort.infer(feed)
    for name in ort.output_names:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-3, atol=1e-4)


def test_pipeline_on_the_torch_backend_agrees_with_onnxrt(tiny_set):
    root, path = tiny_set
    from edgeseg.data.folders import list_images, read_rgb
    frames = [read_rgb(p) for p in list_images(root / "frames")]
    labels = {}
    for backend in ("torch", "onnxrt"):
        with Pipeline(load_bundle(path), OperatingPoint(name="t", keyframe_interval=2, warp=True, refine=True),
                      backend=backend) as p:
            labels[backend] = np.stack([p.process(f).labels for f in frames])
    assert (labels["torch"] == labels["onnxrt"]).mean() > 0.999


def _bundle_with_checkpoint_copy(tiny_set, tmp_path):
    root, path = tiny_set
    copy = tmp_path / "bundle"
    shutil.copytree(path, copy)
    ckpt = tmp_path / "backbone.pt"
    shutil.copy(root / "model" / "backbone.pt", ckpt)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"]["checkpoint"] = str(ckpt)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return load_bundle(copy), ckpt


def test_torch_backend_refuses_a_checkpoint_changed_since_export(tiny_set, tmp_path):
    bundle, ckpt = _bundle_with_checkpoint_copy(tiny_set, tmp_path)
    open_engine(bundle, "backbone", "torch")  # the untouched copy is accepted
    with open(ckpt, "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="changed since"):
        open_engine(bundle, "backbone", "torch")
    ckpt.unlink()
    with pytest.raises(BundleError, match="not on this machine"):
        open_engine(bundle, "backbone", "torch")


def test_manifest_records_every_head_checkpoint(tiny_set):
    root, path = tiny_set
    heads = load_bundle(path).manifest.source["heads"]
    assert set(heads) == {"refiner", "stgru", "netwarp", "gcrf"}
    assert all(h["checkpoint"] == str(root / "model" / f"{n}.pt") and len(h["sha256"]) == 64 for n, h in heads.items())


def test_best_backend_is_a_known_one():
    assert best_backend() in BACKENDS


def _reason(importer):
    try:
        importer()
    except MissingDependencyError as exc:
        return str(exc)
    return None


@pytest.mark.skipif(_reason(import_tensorrt) is None, reason="TensorRT is installed here")
def test_tensorrt_backend_without_tensorrt_is_one_line(tiny_set, tmp_path):
    root, path = tiny_set
    out = tmp_path / "out.mp4"
    r = run_cli("run", "--bundle", str(path), "--source", str(root / "frames"), "--sink", str(out),
                "--backend", "tensorrt", "--quiet")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "TensorRT" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def _gpu_reason():
    reason = _reason(import_cudart)
    if reason:
        return reason
    from edgeseg.runtime.engines.backends.tensorrt_env import current_gpu
    try:
        current_gpu()
    except RuntimeError as exc:
        return f"no CUDA GPU: {exc}"
    return None


@pytest.mark.skipif(_gpu_reason() is not None, reason=f"cuda-python / GPU unavailable: {_gpu_reason()}")
def test_pinned_buffers_round_trip_through_the_gpu():
    from edgeseg.runtime.engines.backends.cuda_buffers import CudaStream, IoBuffer
    stream = CudaStream()
    buf = IoBuffer((2, 3, 64, 96), np.float32)
    x = np.random.default_rng(0).standard_normal(buf.shape).astype(np.float32)
    buf.upload(x, stream)
    buf.host[...] = 0
    buf.download(stream)
    stream.synchronize()
    np.testing.assert_array_equal(buf.host, x)
    buf.close()
    stream.close()


@pytest.mark.skipif(_reason(import_tensorrt) is not None or _gpu_reason() is not None,
                    reason=f"TensorRT backend unverifiable here: {_reason(import_tensorrt) or _gpu_reason()}")
def test_tensorrt_backend_matches_onnxrt(tiny_set, tmp_path):
    bundle = load_bundle(tiny_set[1])
    trt_engine = open_engine(bundle, "backbone", "tensorrt", engine_cache=tmp_path)
    ort = open_engine(bundle, "backbone", "onnxrt")
    feed = _feed(ort, np.random.default_rng(2))
    a, b = trt_engine.infer(feed), ort.infer(feed)
    for name in ort.output_names:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-2, atol=1e-3)


def test_engine_for_another_gpu_or_tensorrt_is_not_used_and_the_reason_says_why(tiny_set, tmp_path):
    """The lookup the TensorRT backend makes before it loads, rebuilds or refuses (no TensorRT needed)."""
    from edgeseg.runtime.engines.backends.tensorrt_backend import locate_engine
    from edgeseg.runtime.engines.backends.tensorrt_env import Gpu, engine_record
    bundle = load_bundle(tiny_set[1])
    sha = bundle.graphs["backbone"].sha256
    orin = Gpu("Orin", "8.7")
    bundle.manifest.engines["backbone"] = engine_record(sha, "10.3.0", orin, "fp32", "engines/x.engine")
    path, reason = locate_engine(bundle, "backbone", "10.3.0", Gpu("RTX 4090", "8.9"), tmp_path)
    assert "GPU 'RTX 4090' (engine: 'Orin')" in reason and "compute capability '8.9' (engine: '8.7')" in reason
    _, reason = locate_engine(bundle, "backbone", "11.0.1", orin, tmp_path)
    assert "TensorRT '11.0.1' (engine: '10.3.0')" in reason and "GPU" not in reason
    path, reason = locate_engine(bundle, "backbone", "10.3.0", orin, tmp_path)
    assert reason == "its engine file engines/x.engine is missing"
    path.write_bytes(b"plan")  # an engine built here for this GPU and TensorRT is found by its key
    assert locate_engine(bundle, "backbone", "10.3.0", orin, tmp_path) == (path, None)
    _, reason = locate_engine(bundle, "refiner", "10.3.0", orin, tmp_path)
    assert reason == "the bundle has no TensorRT engine for it"


def test_keyframe_engines_are_keyed_by_their_optimisation_profile_too(tiny_set, tmp_path):
    """A post engine built for other backbones' score sizes is not taken for this bundle's (its graph is the same)."""
    import copy
    from dataclasses import replace

    from edgeseg.runtime.engines.backends.tensorrt_backend import locate_engine
    from edgeseg.runtime.engines.backends.tensorrt_env import Gpu
    bundle, orin = load_bundle(tiny_set[1]), Gpu("Orin", "8.7")
    other = copy.deepcopy(bundle)
    entry = other.graphs["backbone"]
    other.graphs["backbone"] = replace(entry, outputs=[replace(o, shape=[*o.shape[:2], o.shape[2] * 2, o.shape[3] * 2])
                                                       for o in entry.outputs])
    assert other.graphs["post"].sha256 == bundle.graphs["post"].sha256
    mine, theirs = (locate_engine(b, "post", "10.3.0", orin, tmp_path)[0] for b in (bundle, other))
    assert mine != theirs
    assert locate_engine(bundle, "backbone", "10.3.0", orin, tmp_path) == locate_engine(other, "backbone", "10.3.0", orin,
                                                                                       tmp_path)


def test_timing_caches_are_keyed_like_engines():
    from edgeseg.runtime.engines.backends.tensorrt_env import Gpu, timing_cache_name
    orin, h100 = Gpu("Orin", "8.7"), Gpu("NVIDIA H100", "9.0")
    names = {timing_cache_name(v, g) for v in ("10.3.0", "10.13.0") for g in (orin, h100)}
    assert len(names) == 4 and timing_cache_name("10.3.0", orin) == timing_cache_name("10.3.0", Gpu("Orin", "8.7"))


def test_a_failed_cuda_call_is_a_one_line_edgeseg_error():
    from edgeseg.errors import EdgesegError
    from edgeseg.runtime.engines.backends.tensorrt_env import check_cuda
    assert check_cuda((0, 42)) == 42
    with pytest.raises(EdgesegError, match="edgeseg doctor") as info:
        check_cuda((2, None))  # cudaErrorMemoryAllocation's code
    assert "\n" not in str(info.value)
