"""The profiler's plots (issue 30): labelled axes with units, values on every point and bar, the point names, a
title saying the machine and backend, a log axis with plain tick labels, and no point dropped silently."""

import re

import pytest

from edgeseg.bench.report import figure, left_out, log_ticks, machine_line, plot

pytest.importorskip("matplotlib")

MACHINE = {"cpu": "Test CPU 3000", "cpu_count": 2, "backend": "onnxrt", "providers": ["AzureExecutionProvider", "CPUExecutionProvider"]}
PLAIN = re.compile(r"^\d+(\.\d+)?$")


def row(name, fps, miou=None, status="ok", error=None, speedup=None):
    return {"profile": name, "status": status, "fps": fps, "miou": miou, "error": error, "speedup": speedup}


def _tick_labels(ax, axis="x"):
    ax.figure.canvas.draw()
    a = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    major = [t.get_text() for t, v in zip(a.get_ticklabels(), a.get_ticklocs()) if lo <= v <= hi]
    minor = [t.get_text() for t in a.get_ticklabels(minor=True) if t.get_text()]
    return major, minor


@pytest.mark.parametrize("fps", [(18.0, 21.5, 25.0), (24.0, 117.5, 531.1), (0.6, 3.0, 12000.0)])
def test_accuracy_plot_labels_axes_points_and_plain_log_ticks(fps):
    import matplotlib.pyplot as plt
    rows = [row("evs01", fps[0], 67.16), row("evs07", fps[1], 65.95), row("evs14", fps[2], 56.01)]
    fig, missing = figure(rows, "demo on CamVid val", MACHINE)
    try:
        ax = fig.axes[0]
        assert missing == []
        assert ax.get_xscale() == "log"
        assert "frames per second" in ax.get_xlabel() and "FPS" in ax.get_xlabel() and "mIoU (%)" in ax.get_ylabel()
        major, minor = _tick_labels(ax)
        assert len(major) >= 2 and all(PLAIN.match(t) for t in major), major  # "20", not "2x10^1"
        assert minor == []  # matplotlib's minor log labels are what read 2x10^1
        notes = " | ".join(t.get_text() for t in ax.texts)
        for r in rows:
            assert r["profile"] in notes and f"{r['fps']:.1f} FPS" in notes and f"{r['miou']:.2f}%" in notes
        assert "backend onnxrt (CPU)" in ax.get_title() and "Test CPU 3000" in ax.get_title()
        assert "demo on CamVid val" in ax.get_title()
        lo, hi = ax.get_xlim()
        assert all(lo < f < hi for f in fps)
    finally:
        plt.close(fig)


def test_bars_without_labels_carry_names_values_and_units():
    import matplotlib.pyplot as plt
    rows = [row("evs01", 24.04, speedup=1.0), row("evs07", 117.5, speedup=4.89), row("evs14", 531.1, speedup=22.09)]
    fig, missing = figure(rows, "sample://bikes", MACHINE)
    try:
        ax = fig.axes[0]
        assert missing == []
        ax.figure.canvas.draw()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["evs01", "evs07", "evs14"]
        assert "frames per second" in ax.get_ylabel()
        values = " | ".join(t.get_text() for t in ax.texts)
        assert "24.0" in values and "117.5" in values and "531.1" in values and "4.89x" in values
        major, minor = _tick_labels(ax, "y")  # 22x between the slowest and fastest: a log axis, plain labels
        assert ax.get_yscale() == "log" and all(PLAIN.match(t) for t in major) and minor == [], (major, minor)
        assert "backend onnxrt" in ax.get_title()
    finally:
        plt.close(fig)


def test_points_that_cannot_be_drawn_are_listed_on_the_plot(tmp_path):
    import matplotlib.pyplot as plt
    rows = [row("evs01", 20.0, 67.0), row("grfp", None, status="export_failed", error="bundle lacks graph(s) stgru"),
            row("evs07", 90.0, 66.0), row("evs13", None, 50.0)]
    fig, missing = figure(rows, "t", MACHINE)
    try:
        assert [m.split(" ")[0] for m in missing] == ["grfp", "evs13"]
        assert "export_failed: bundle lacks graph(s) stgru" in missing[0]
        text = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
        assert "not shown:" in text and "grfp (export_failed" in text and "evs13 (no FPS measured" in text
    finally:
        plt.close(fig)
    assert plot(tmp_path / "p.png", rows, "t", MACHINE) == missing
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_left_out_names_rows_without_miou_on_an_accuracy_plot_only():
    rows = [row("a", 10.0, 60.0), row("b", 20.0, None)]
    assert left_out(rows, accuracy=True) == ["b (no mIoU: no labelled frame)"]
    assert left_out(rows, accuracy=False) == []


def test_log_ticks_span_the_data_with_plain_1_2_5_steps():
    assert log_ticks(18, 25) == [10, 20, 50]
    assert log_ticks(24, 531) == [20, 50, 100, 200, 500, 1000]
    assert log_ticks(117.5, 117.5) == [100, 200]
    wide = log_ticks(0.6, 12000)
    assert wide[0] <= 0.6 and wide[-1] >= 12000 and len(wide) <= 8


def test_machine_line_names_the_provider_the_backend_uses():
    assert machine_line(MACHINE) == "Test CPU 3000, 2 cores; backend onnxrt (CPU)"
    gpu = {**MACHINE, "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    assert machine_line(gpu).endswith("backend onnxrt (CUDA)")
    assert machine_line({"cpu": "x", "cpu_count": 16, "backend": "torch", "device": "NVIDIA H100"}).endswith("torch (NVIDIA H100)")
