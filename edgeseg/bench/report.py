"""Profiler output: the aligned table, JSON ({"machine", "rows"}), CSV, and the FPS-vs-mIoU plot with its
Pareto front (bars of FPS when there are no labels). Files are written atomically."""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import textwrap
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
                            "kernels": kernels.BACKEND, "backend": backend, "cpu": cpu_name()}
    if backend == "torch":
        import torch
        info["torch"] = torch.__version__
        info["device"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return info


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; macOS: sysctl), else the platform's processor or machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=2).stdout.strip() or platform.machine()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


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


def machine_line(machine: dict[str, Any] | None) -> str:
    """What the figures were measured on, in a few words (for plot titles): CPU, cores, backend and its device."""
    if not machine:
        return ""
    cpu = machine.get("cpu") or machine.get("processor") or machine.get("machine") or "CPU"
    backend = machine.get("backend") or "?"
    where = machine.get("device")
    if where is None and backend == "onnxrt":  # the provider the onnxrt backend picks (GPU ones first, else CPU)
        gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in (machine.get("providers") or [])]
        where = (gpu[0] if gpu else "CPUExecutionProvider").replace("ExecutionProvider", "")
    return f"{cpu}, {machine.get('cpu_count')} cores; backend {backend}" + (f" ({where})" if where else "")


def left_out(rows: list[dict[str, Any]], accuracy: bool) -> list[str]:
    """``"name (why)"`` for every row a plot cannot draw: failed points, points without FPS, and on an accuracy plot
    points without mIoU. A plot lists them on itself; the CLI prints them too."""
    out = []
    for r in rows:
        if r["status"] != "ok":
            why = f"{r['status']}: {r.get('error') or 'no reason given'}"
        elif not r.get("fps"):
            why = f"no FPS measured: {r.get('fps_note') or 'no timed frame'}"
        elif accuracy and r.get("miou") is None:
            why = "no mIoU: no labelled frame"
        else:
            continue
        out.append(f"{r['profile']} ({why})")
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks spanning [lo, hi] on a log axis (at least two; powers of ten only when that makes more than 8),
    written as plain numbers by the plot rather than matplotlib's 2x10^1."""
    k0, k1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    cands = [(m, round(m * 10.0 ** k, 12)) for k in range(k0, k1 + 1) for m in (1, 2, 5)]
    below = max(v for _, v in cands if v <= lo * (1 + 1e-9))
    above = min(v for _, v in cands if v >= hi * (1 - 1e-9))
    ticks = [(m, v) for m, v in cands if below <= v <= above]
    if len(ticks) > 8:
        ticks = [(m, v) for m, v in ticks if m == 1 or v in (below, above)]
    return [v for _, v in ticks]


def figure(rows: list[dict[str, Any]], title: str, machine: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """(matplotlib Figure, the points it leaves out): FPS (log) vs mIoU with the Pareto front (EVS Figure 1) when
    rows have mIoU, else FPS bars per point. Every drawn point carries its name and values; axes say their units;
    the title says what was measured where; points that cannot be drawn are listed under the axes."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FormatStrFormatter, NullFormatter
    except ImportError:
        raise MissingDependencyError("--plot needs matplotlib: pip install 'edgeseg[plot]'") from None
    ok = [r for r in rows if r["status"] == "ok" and r.get("fps")]
    accuracy = any(r.get("miou") is not None for r in ok)
    missing = left_out(rows, accuracy)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    if accuracy:
        pts = [r for r in ok if r["miou"] is not None]
        fps, miou = [r["fps"] for r in pts], [r["miou"] for r in pts]
        ax.scatter(fps, miou, color="tab:blue", zorder=3)
        for r in pts:
            ax.annotate(f"{r['profile']}\n{r['fps']:.1f} FPS, {r['miou']:.2f}%", (r["fps"], r["miou"]),
                        textcoords="offset points", xytext=(5, 3), fontsize=7.5)
        front = pareto(rows)
        ax.step([r["fps"] for r in front], [r["miou"] for r in front], where="post", color="tab:red", lw=1.5,
                label="Pareto front (no point is both faster and more accurate)", zorder=2)
        ax.set_xscale("log")
        ticks = log_ticks(min(fps), max(fps))
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # matplotlib's minor labels are what read "2x10^1"
        ax.set_xlim(ticks[0] / 1.15, ticks[-1] * 1.6)  # room on the right for the last point's label
        low, high = min(miou), max(miou)
        pad = max(1.0, 0.12 * (high - low))
        ax.set_ylim(low - pad, high + 1.5 * pad)
        ax.set_xlabel("throughput: frames per second (FPS, log scale)")
        ax.set_ylabel("accuracy: mIoU (%)")
        ax.legend(loc="lower left", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
    elif ok:
        bars = ax.bar([r["profile"] for r in ok], [r["fps"] for r in ok], color="tab:blue")
        ax.bar_label(bars, labels=[f"{r['fps']:.1f}" + (f"\n{r['speedup']:.2f}x" if r.get("speedup") else "")
                                   for r in ok], fontsize=8, padding=2)
        lo, hi = min(r["fps"] for r in ok), max(r["fps"] for r in ok)
        if hi / lo > 20:  # linear bars would flatten the slow points to nothing
            ax.set_yscale("log")
            ticks = log_ticks(lo, hi)
            ax.set_yticks(ticks)
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(ticks[0] / 1.5, ticks[-1] * 2.5)
            ax.set_ylabel("throughput: frames per second (FPS, log scale)")
        else:
            ax.set_ylim(0, 1.2 * hi)
            ax.set_ylabel("throughput: frames per second (FPS)")
        ax.set_xlabel("operating point (no labels: FPS only; speedup vs evs01 under the FPS)")
        if len(ok) > 6:
            ax.tick_params(axis="x", rotation=60)
        ax.grid(True, axis="y", alpha=0.3)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no operating point was measured", ha="center", va="center", transform=ax.transAxes)
    where = machine_line(machine)
    ax.set_title(textwrap.fill(title, 110) + (f"\n{where}" if where else ""), fontsize=9)
    bottom = 0.0
    if missing:
        note = textwrap.fill("not shown: " + "; ".join(missing), 130)
        lines = note.count("\n") + 1
        bottom = min(0.4, 0.03 + 0.025 * lines)
        fig.text(0.01, 0.01, note, fontsize=7, va="bottom", ha="left", color="tab:red")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig, missing


def plot(path: str | Path, rows: list[dict[str, Any]], title: str, machine: dict[str, Any] | None = None) -> list[str]:
    """Write ``figure(rows, title, machine)`` to ``path`` (atomically; the format from its suffix). Returns the points
    it left out (``"name (why)"``), which it also lists on the figure."""
    import matplotlib.pyplot as plt
    fig, missing = figure(rows, title, machine)
    suffix = Path(path).suffix or ".png"
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix.lstrip("."))
    finally:
        plt.close(fig)
    return missing
