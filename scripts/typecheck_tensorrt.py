"""Type-check edgeseg's TensorRT code (builder, calibrator, backend) with mypy against tensorrt-stubs.

    pip install --no-deps tensorrt-stubs==10.13.0.35.1   # --no-deps: it would pull TensorRT itself
    python scripts/typecheck_tensorrt.py [extra mypy args]

tensorrt-stubs installs ``tensorrt/*.pyi`` without a py.typed marker (mypy then ignores them) and its
generated stub has two syntax errors (a parameter named ``in``, a required parameter after defaults).
This script copies the stubs to a temporary folder, repairs those two spots and runs mypy with that
folder on MYPYPATH, using the files and settings of ``[tool.mypy]`` in pyproject.toml. Exit code: mypy's.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPAIRS = [(re.compile(r"\bin: list"), "in_: list"),
           (re.compile(r"power: Weights = None, channel_axis: int\)"), "power: Weights = None, channel_axis: int = ...)")]


def stub_root() -> Path:
    try:
        dist = importlib.metadata.distribution("tensorrt-stubs")
    except importlib.metadata.PackageNotFoundError:
        sys.exit("tensorrt-stubs is not installed: pip install --no-deps tensorrt-stubs==10.13.0.35.1")
    init = next(f for f in dist.files or [] if str(f) == "tensorrt/__init__.pyi")
    return Path(str(dist.locate_file(init))).parents[1]


def main() -> int:
    src = stub_root()
    with tempfile.TemporaryDirectory() as tmp:
        for package in ("tensorrt", "tensorrt_bindings"):
            shutil.copytree(src / package, Path(tmp) / package, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        for stub in Path(tmp).rglob("*.pyi"):
            text = stub.read_text()
            for pattern, repl in REPAIRS:
                text = pattern.sub(repl, text)
            stub.write_text(text)
        env = {**os.environ, "MYPYPATH": tmp}
        root = Path(__file__).resolve().parents[1]
        return subprocess.call([sys.executable, "-m", "mypy", "--no-incremental", *sys.argv[1:]], cwd=root, env=env)


if __name__ == "__main__":
    sys.exit(main())
