"""The runtime and the profiles import and run without torch (a Jetson), and never load torch by themselves
on a machine that has it (unless --backend torch is asked for)."""

import subprocess
import sys

import pytest

from tests.conftest import run_cli


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_runtime_and_profiles_import_without_torch():
    r = _python("import sys\n"
                "import edgeseg.runtime, edgeseg.runtime.pipeline.core, edgeseg.runtime.pipeline.session, edgeseg.runtime.io.sources\n"
                "import edgeseg.runtime.io.sinks, edgeseg.runtime.motion.kernels, edgeseg.runtime.engines.registry, edgeseg.profiles\n"
                "import edgeseg.runtime.engines.backends.onnxrt, edgeseg.runtime.engines.backends.tensorrt_env, edgeseg.cli.run_cmd\n"
                "import edgeseg.runtime.engines.backends.tensorrt_backend, edgeseg.runtime.engines.backends.cuda_buffers\n"
                "import edgeseg.runtime.engines.backends.tensorrt_build, edgeseg.bench.sweep, edgeseg.cli.profile_cmd\n"
                "import edgeseg.cli.demo_cmd, edgeseg.runtime.io.http_view, edgeseg.runtime.io.stream_out, edgeseg.runtime.fusion\n"
                "assert 'torch' not in sys.modules, 'torch was imported'\n")
    assert r.returncode == 0, r.stderr


def test_choosing_the_default_backend_does_not_load_torch():
    pytest.importorskip("torch")  # the case that matters: torch is installed
    r = _python("import sys\nfrom edgeseg.runtime.engines.registry import best_backend\nprint(best_backend())\n"
                "assert 'torch' not in sys.modules, 'best_backend() imported torch'\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in ("onnxrt", "tensorrt", "torch")


def test_a_whole_run_on_the_default_backend_does_not_load_torch(tiny_set, tmp_path):
    pytest.importorskip("torch")
    root, bundle = tiny_set
    r = _python("import sys\nfrom edgeseg.cli.main import main\n"
                f"code = main(['run', '--bundle', {str(bundle)!r}, '--profile', 'evs06', '--source', {str(root / 'frames')!r},"
                f" '--sink', {str(tmp_path / 'labels')!r}, '--quiet'])\n"
                "assert code == 0, code\nassert 'torch' not in sys.modules, 'the run imported torch'\n")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "labels").glob("*.png"))) == 10


@pytest.mark.parametrize("verb", ["", "run", "profile", "demo", "export", "train", "eval", "profiles", "doctor"])
def test_help_imports_no_heavy_module(verb):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "edgeseg", *([verb] if verb else []), "--help"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert loaded & {"torch", "cv2", "onnxruntime"} == set()
    assert "usage: edgeseg" in r.stdout


def test_help_still_lists_every_verb_and_its_flags():
    top = run_cli("--help")
    assert all(v in top.stdout for v in ("train", "export", "run", "profile", "demo", "doctor"))
    assert "--engine-cache" in run_cli("run", "--help").stdout
