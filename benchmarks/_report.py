"""Shared by the benchmark scripts: print a markdown report and save it under benchmarks/results/."""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def publish(lines: list[str], name: str) -> Path:
    """Print ``lines`` and write them to ``benchmarks/results/<name>``; returns the file."""
    text = "\n".join(lines) + "\n"
    print(text)
    path = RESULTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
