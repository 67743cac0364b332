"""The C kernels' tests (with hypothesis fuzzing) pass against an AddressSanitizer + UBSan build of the
kernels (scripts/asan_kernels.sh). Skipped where gcc has no sanitizer runtime."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def libasan():
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    path = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if Path(path).is_file() else None


@pytest.mark.skipif(libasan() is None, reason="gcc with libasan is not available")
def test_kernels_under_address_sanitizer():
    r = subprocess.run(["bash", str(ROOT / "scripts" / "asan_kernels.sh")], capture_output=True, text=True,
                       env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    loaded = next(line for line in r.stdout.splitlines() if line.startswith("sanitized kernels:"))
    assert str(ROOT) not in loaded  # the sanitized build was tested, not the installed extension
    assert " passed" in r.stdout and "failed" not in r.stdout
