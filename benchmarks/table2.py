"""EVS Table 2 on CamVid val: FPS, speedup vs evs01 and mIoU of every built-in operating point, same run.

CamVid val is one continuous 15 Hz run of urban driving (101 frames, 480x360, every frame labelled), so
propagated frames are scored like keyframes. Sync mode, the default model's fp32 bundle (exported into
runs/bundle_default when missing). Writes benchmarks/results/table2.md with the machine description and
checks issue 5's bar, printing each check's result.

    python benchmarks/table2.py [--bundle runs/bundle_default] [--backend onnxrt] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _report import DATA, RESULTS_DIR, ensure_bundle, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bench.frames import attach_labels, load_clip
from edgeseg.bench.report import machine_info, markdown, plot
from edgeseg.bench.sweep import SweepOptions, sweep
from edgeseg.bundle import load_bundle
from edgeseg.profiles.schema import builtin_names, load_profile

VAL = DATA / "camvid"
# EVS Table 2 (Cityscapes, GPU + CPU): mIoU and FPS of each point, for reference next to ours.
EVS = {"evs01": (67.6, 37), "evs02": (67.3, 67), "evs03": (66.7, 69), "evs04": (65.6, 90), "evs05": (64.0, 112),
       "evs06": (63.3, 115), "evs07": (62.5, 173), "evs08": (58.7, 184), "evs09": (57.0, 192), "evs10": (58.1, 240),
       "evs11": (53.4, 307), "evs12": (52.5, 538), "evs13": (46.3, 642), "evs14": (46.0, 1045)}


def bar_checks(rows: list[dict]) -> list[tuple[str, bool, str]]:
    by = {r["profile"]: r for r in rows}

    def figure(name: str, key: str) -> float:
        v = by.get(name, {}).get(key)
        return float("nan") if v is None else float(v)

    def m(name: str) -> float:
        return figure(name, "miou")

    def c(name: str) -> float:
        return figure(name, "consistency")
    checks = [("every point ok with an mIoU", all(r["status"] == "ok" and r["miou"] is not None for r in rows),
               f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)} ok"),
              ("evs07 >= evs01 - 5", m("evs07") >= m("evs01") - 5, f"{m('evs07'):.2f} vs {m('evs01'):.2f}"),
              ("evs06 >= evs07 + 0.5 (refinement)", m("evs06") >= m("evs07") + 0.5, f"{m('evs06'):.2f} vs {m('evs07'):.2f}"),
              ("evs02 >= evs03 (refinement)", m("evs02") >= m("evs03"), f"{m('evs02'):.2f} vs {m('evs03'):.2f}"),
              ("grfp >= evs01 + 0.5", m("grfp") >= m("evs01") + 0.5, f"{m('grfp'):.2f} vs {m('evs01'):.2f}"),
              ("grfp more consistent than evs01", c("grfp") > c("evs01"), f"{c('grfp'):.2f} vs {c('evs01'):.2f}"),
              ("gcrf >= evs01", m("gcrf") >= m("evs01"), f"{m('gcrf'):.2f} vs {m('evs01'):.2f}"),
              ("evs14 speedup >= 6x", (by.get("evs14", {}).get("speedup") or 0) >= 6, f"{by.get('evs14', {}).get('speedup')}x")]
    return checks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/bundle_default")
    ap.add_argument("--backend", default="onnxrt")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profiles", default="all")
    args = ap.parse_args()
    if not (VAL / "val").is_dir():
        print(f"skip: CamVid val not found at {VAL}", file=sys.stderr)
        return 0
    bundle = load_bundle(ensure_bundle(Path(args.bundle)))
    names = builtin_names() if args.profiles == "all" else args.profiles.split(",")
    clip = attach_labels(load_clip(str(VAL / "val")), VAL / "valannot")

    def show(row: dict) -> None:
        print(f"{row['profile']:>9} {row['status']:<13} fps {row['fps'] or 0:7.1f}  mIoU {row['miou'] or 0:6.2f}  "
              f"consistency {row['consistency'] or 0:6.2f}", file=sys.stderr)
    rows = sweep(bundle, [load_profile(n) for n in names], clip, SweepOptions(repeat=args.repeat, backend=args.backend),
                 on_row=show)
    machine = machine_info(args.backend)
    for r in rows:
        ref = EVS.get(r["profile"])
        r["evs_cityscapes"] = {"miou": ref[0], "fps": ref[1]} if ref else None
    checks = bar_checks(rows)
    lines = ["# EVS Table 2 analogue: CamVid val (continuous 15 Hz run, 101 labelled frames, 480x360)", "",
             f"Machine: {machine['processor']}, {machine['cpu_count']} cores, {machine['platform']}; backend {args.backend} "
             f"(ONNX Runtime {machine['onnxruntime']}), C kernels {machine['kernels']}. Bundle {args.bundle} "
             f"({bundle.precision}). Sync mode, {len(clip.frames)} frames, FPS = median of {args.repeat} pass(es) after "
             "3 warm-up frames; speedup vs evs01 in the same run; consistency = % of pixels whose label equals the previous "
             "label warped by Farneback flow (not the DIS the points propagate with).", "", *markdown(rows), "",
             "EVS (Cityscapes, GPU + CPU) for reference: " + ", ".join(f"{k} {v[0]}%/{v[1]} Hz" for k, v in EVS.items()), "",
             "## Issue 5 bar", "", "| check | result | figures |", "|---|---|---|",
             *[f"| {name} | {'pass' if ok else 'FAIL'} | {fig} |" for name, ok, fig in checks]]
    publish(lines, "table2.md")
    (RESULTS_DIR / "table2.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    plot(RESULTS_DIR / "table2.png", rows, f"CamVid val, {len(clip.frames)} frames, {args.backend}, {machine['cpu_count']} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
