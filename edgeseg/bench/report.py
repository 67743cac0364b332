"""Profiler output: the aligned table, JSON ({"machine", "rows"}), CSV, and the FPS-vs-mIoU plot with its
Pareto front (bars of FPS when there are no labels). Files are written atomically."""

from __future__ import annotations

import csv
import io
import math
import os
import platform
from pathlib import Path
from typing import Any

from edgeseg._fs import atomic_path, atomic_write_text
from edgeseg._json import dumps
from edgeseg.errors import MissingDependencyError

COLUMNS = [("profile", "profile", "{}"), ("status", "status", "{}"), ("D", "D", "{:g}"), ("S", "S", "{}"),
           ("W", "W", "{}"), ("R", "R", "{}"), ("fusion", "fusion", "{}"), ("fps", "FPS", "{:.1f}"),
           ("speedup", "speedup", "{:.2f}x"), ("ideal_speedup", "ideal", "{:.2f}x"), ("efficiency", "eff.", "{:.2f}"),
           ("p50", "p50 ms", "{:.1f}"), ("p99", "p99 ms", "{:.1f}"),
           ("keyframes", "keys", "{}"), ("miou", "mIoU", "{:.2f}"), ("miou_keyframes", "mIoU key", "{:.2f}"),
           ("miou_propagated", "mIoU prop", "{:.2f}"), ("consistency", "consist.", "{:.2f}")]


def machine_info(backend: str) -> dict[str, Any]:
    """What the figures were measured on."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    from edgeseg.runtime.motion import kernels
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                            "python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
                            "onnxruntime": ort.__version__, "providers": ort.get_available_providers(),
                            "kernels": kernels.BACKEND, "backend": backend}
    if backend == "torch":
        import torch
        info["torch"] = torch.__version__
        info["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return info


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row["latency_ms"].get(key) if key in ("p50", "p99") else row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "W" if key == "W" and value else "R" if key == "R" and value else "-"
    return fmt.format(value)


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """COLUMNS, without the accuracy ones when no row has labels."""
    return [c for c in COLUMNS if c[0] not in ("miou", "miou_keyframes", "miou_propagated")
            or any(r.get(c[0]) is not None for r in rows)]


def table(rows: list[dict[str, Any]]) -> str:
    """An aligned text table, one line per operating point (failing points show why, below)."""
    cols = _columns(rows)
    cells = [[title for _, title, _ in cols]] + [[_cell(r, k, f) for k, _, f in cols] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cols))]
    lines = ["  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"  {r['profile']}: {r['status']}: {r['error']}" for r in rows if r["status"] != "ok"]
    lines += [f"  {r['profile']}: {r['fps_note']}" for r in rows if r["status"] == "ok" and r.get("fps_note")]
    return "\n".join(lines)


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    cols = _columns(rows)
    out = ["| " + " | ".join(t for _, t, _ in cols) + " |", "|" + "|".join("---" if i < 7 else "---:" for i in range(len(cols))) + "|"]
    out += ["| " + " | ".join(_cell(r, k, f) for k, _, f in cols) + " |" for r in rows]
    return out


def write_json(path: str | Path, machine: dict[str, Any], rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    atomic_write_text(path, dumps({"machine": machine, **(extra or {}), "rows": rows}), make_folder=True)


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    fields = ["profile", "status", "D", "S", "W", "R", "fusion", "adaptive", "frames", "fps", "speedup", "latency_p50_ms",
              "latency_p99_ms", *[f"{s}_ms" for s in rows[0]["stage_ms"]], "dropped", "keyframes", "miou",
              "miou_keyframes", "miou_propagated", "consistency", "error"] if rows else ["profile"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        flat = {**r, "latency_p50_ms": r["latency_ms"]["p50"], "latency_p99_ms": r["latency_ms"]["p99"],
                **{f"{s}_ms": v for s, v in r["stage_ms"].items()}}
        writer.writerow(flat)
    atomic_write_text(path, buf.getvalue(), make_folder=True)


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points no other point beats on both FPS and mIoU, by increasing FPS."""
    pts = [r for r in rows if r["status"] == "ok" and r["fps"] and r["miou"] is not None]
    front = [r for r in pts if not any(o["fps"] >= r["fps"] and o["miou"] >= r["miou"] and
                                       (o["fps"] > r["fps"] or o["miou"] > r["miou"]) for o in pts)]
    return sorted(front, key=lambda r: r["fps"])


def plot(path: str | Path, rows: list[dict[str, Any]], title: str) -> None:
    """FPS (log) vs mIoU with the Pareto front (EVS Figure 1); bars of FPS per point without labels."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError("--plot needs matplotlib: pip install 'edgeseg[plot]'") from None
    ok = [r for r in rows if r["status"] == "ok" and r["fps"]]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    if any(r["miou"] is not None for r in ok):
        pts = [r for r in ok if r["miou"] is not None]
        ax.scatter([r["fps"] for r in pts], [r["miou"] for r in pts], color="tab:blue", zorder=3)
        for r in pts:
            ax.annotate(r["profile"], (r["fps"], r["miou"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto(rows)
        ax.step([r["fps"] for r in front], [r["miou"] for r in front], where="post", color="tab:red", lw=1.5,
                label="Pareto front", zorder=2)
        ax.set_xscale("log")
        ax.set_xlabel("frames per second (log)")
        ax.set_ylabel("mIoU %")
        ax.legend(loc="lower left")
        ax.grid(True, which="both", alpha=0.3)
    else:
        ax.bar([r["profile"] for r in ok], [r["fps"] for r in ok], color="tab:blue")
        ax.set_ylabel("frames per second")
        ax.tick_params(axis="x", rotation=60)
        ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    suffix = Path(path).suffix or ".png"
    with atomic_path(path, make_folder=True) as tmp:
        fig.savefig(tmp, format=suffix.lstrip("."))
    plt.close(fig)
