"""TensorRT: engine keys, the missing-TensorRT error, mypy against tensorrt-stubs, and (where TensorRT and a
GPU exist) a real engine build. TensorRT cannot run on the development or CI machines: the build test
skips there with the reason."""

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from edgeseg.errors import MissingDependencyError
from edgeseg.runtime.engines.backends.tensorrt_env import Gpu, engine_key, import_tensorrt
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def tensorrt_reason():
    try:
        import_tensorrt()
    except MissingDependencyError as exc:
        return str(exc)
    return None


def test_engine_key_changes_with_every_part():
    gpu = Gpu("Orin", "8.7")
    base = engine_key("a" * 64, "10.3.0", gpu, "int8")
    assert base == engine_key("a" * 64, "10.3.0", Gpu("Orin", "8.7"), "int8")
    others = [engine_key("b" * 64, "10.3.0", gpu, "int8"), engine_key("a" * 64, "11.4.0", gpu, "int8"),
              engine_key("a" * 64, "10.3.0", Gpu("RTX 4090", "8.9"), "int8"), engine_key("a" * 64, "10.3.0", gpu, "fp16"),
              engine_key("a" * 64, "10.3.0", Gpu("Orin", "8.6"), "int8")]
    assert len({base, *others}) == 6


@pytest.mark.skipif(tensorrt_reason() is None, reason="TensorRT is installed here")
def test_export_tensorrt_without_tensorrt_is_one_line(tiny_root, tmp_path):
    r = run_cli("export", str(tiny_root / "model"), "--out", str(tmp_path / "b"), "--tensorrt",
                "--calib", str(tiny_root / "frames"), "--no-progress")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "edgeseg[tensorrt]" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def stubs_installed():
    try:
        importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("mypy") is not None


@pytest.mark.skipif(not stubs_installed(), reason="tensorrt-stubs or mypy not installed (pip install --no-deps tensorrt-stubs)")
def test_tensorrt_code_is_mypy_clean_against_the_stubs(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "typecheck_tensorrt.py")]
    r = subprocess.run(script, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    # the stubs are really in effect: a call TensorRT does not have is caught
    bad = tmp_path / "bad.py"
    bad.write_text("import tensorrt as trt\ntrt.Builder(trt.Logger()).build_engine_v9()\n")
    r = subprocess.run([*script, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "build_engine_v9" in r.stdout


@pytest.mark.skipif(tensorrt_reason() is not None, reason=f"TensorRT unavailable: {tensorrt_reason()}")
def test_build_engines_for_the_tiny_bundle(tiny_set, tmp_path):
    from edgeseg.bundle import load_bundle
    from edgeseg.runtime.engines.backends.tensorrt_build import build_engines
    _, bundle = tiny_set
    engines = build_engines(load_bundle(bundle), tmp_path / "engines", workspace_mib=256)
    assert set(engines) == set(load_bundle(bundle).graphs)
    assert all((tmp_path / e["file"]).stat().st_size > 0 for e in engines.values())
    assert len(list((tmp_path / "engines").glob("timing-*.cache"))) == 1  # keyed by TensorRT version and GPU


def test_the_post_engine_profile_spans_every_backbone_score_size(tiny_set):
    """The post graph's engine takes the scores of every backbone graph: the sizes its profile spans are those the
    backbones really output (ONNX Runtime on each)."""
    import numpy as np

    from edgeseg.bundle import load_bundle
    from edgeseg.runtime.engines.backends.tensorrt_build import _score_sizes
    from edgeseg.runtime.engines.registry import open_engine
    _, root = tiny_set
    bundle = load_bundle(root)
    real = set()
    for key, entry in bundle.graphs.items():
        if entry.role == "backbone":
            engine = open_engine(bundle, key)
            feed = {name: np.zeros(shape, np.float32) for name, shape in engine.inputs.items()}
            real.add(tuple(engine.infer(feed)[bundle.manifest.output.name].shape[2:]))
    assert len(real) == 2 and set(_score_sizes(bundle)) == real  # D = 1 and D = 0.5
