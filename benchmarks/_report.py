"""Shared by the benchmark scripts: print a markdown report and save it under benchmarks/results/."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Data: $EDGESEG_DATA, else the checkout's ../shared/data; exported so that edgeseg's own defaults find it too.
DATA = Path(os.environ.get("EDGESEG_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
if DATA.is_dir():
    os.environ.setdefault("EDGESEG_DATA", str(DATA))


def ensure_bundle(path: Path) -> Path:
    """The default model's fp32 bundle at ``path``, exported there when missing."""
    if (path / "manifest.json").is_file():
        return path
    from edgeseg.export.bundle import ExportOptions, export_bundle
    print(f"exporting the default model to {path} ...", file=sys.stderr)
    return export_bundle(ExportOptions(model="default", out=str(path)))


def machine_line(backend: str = "onnxrt") -> str:
    """One line saying what the figures were measured on (edgeseg.bench.report.machine_info)."""
    from edgeseg.bench.report import machine_info
    m = machine_info(backend)
    return (f"{m['processor']}, {m['cpu_count']} cores, {m['platform']}; Python {m['python']}, OpenCV {m['opencv']}, "
            f"ONNX Runtime {m['onnxruntime']}, kernels {m['kernels']}, backend {backend}")


def publish(lines: list[str], name: str) -> Path:
    """Print ``lines`` and write them to ``benchmarks/results/<name>``; returns the file."""
    text = "\n".join(lines) + "\n"
    print(text)
    path = RESULTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1, sync: Callable[[], object] | None = None) -> float:
    """Median milliseconds of ``runs`` timed calls of ``fn``, after ``warmup`` untimed ones; ``sync`` (e.g.
    ``torch.cuda.synchronize``) is called before and after each timed call, so queued device work is counted."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if sync is not None:
            sync()
        t = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)
