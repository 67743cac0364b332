"""The runtime and the profiles must import and run on a machine without torch (a Jetson)."""

import subprocess
import sys


def test_runtime_and_profiles_import_without_torch():
    code = ("import sys\n"
            "import edgeseg.runtime, edgeseg.runtime.pipeline, edgeseg.runtime.runner, edgeseg.runtime.sources\n"
            "import edgeseg.runtime.sinks, edgeseg.runtime.kernels, edgeseg.runtime.engine, edgeseg.profiles\n"
            "import edgeseg.runtime.backends.onnxrt, edgeseg.runtime.backends.tensorrt_env, edgeseg.cli.run_cmd\n"
            "import edgeseg.runtime.backends.tensorrt_backend, edgeseg.runtime.backends.cuda_buffers\n"
            "import edgeseg.runtime.backends.tensorrt_build, edgeseg.bench.sweep, edgeseg.cli.profile_cmd, edgeseg.cli.demo_cmd\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
