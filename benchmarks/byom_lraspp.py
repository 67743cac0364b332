"""Issue 12 on a real foreign model: torchvision's LR-ASPP MobileNetV3-Large, trained on CamVid train by
``benchmarks/train_lraspp.py`` (plain PyTorch) and exported by torch itself, deployed through edgeseg's CLI:

1. ``edgeseg export lraspp.onnx --size 360x480 --classes camvid``   (a foreign ONNX; dynamic H, W -> D=1 and D=0.5)
2. ``edgeseg eval`` on CamVid val and test, against the framework's own mIoU (framework.json; must agree within 0.15)
3. ``edgeseg train refiner|stgru|gcrf --backbone BUNDLE``            (heads on the bundle's graph, run by ONNX Runtime)
4. ``edgeseg export BUNDLE --heads-from HEADS``                      (attached, each gated)
5. ``edgeseg profile`` of evs01, evs06, evs07, evs14, grfp, gcrf on CamVid val (the Table 2 protocol)

Each step is skipped when its output exists (a cut-off run goes on). Writes benchmarks/results/byom_lraspp.md.

    python benchmarks/byom_lraspp.py [--run benchmarks/runs/lraspp] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _report import DATA, machine_line, publish  # benchmarks/_report.py (scripts run from this folder)

POINTS = ("evs01", "evs06", "evs07", "evs14", "grfp", "gcrf")
CAMVID = DATA / "camvid"


def edgeseg(*args: str) -> None:
    print("$ edgeseg " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "edgeseg", *args], check=True)


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(Path(__file__).resolve().parent / "runs" / "lraspp"))
    ap.add_argument("--repeat", type=int, default=1, help="timed passes per operating point (default: %(default)s)")
    ap.add_argument("--clips", type=int, default=400, help="synthetic clips per head (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=8, help="epochs per head (default: %(default)s)")
    args = ap.parse_args()
    run = Path(args.run)
    if not (run / "lraspp.onnx").is_file():
        print(f"no {run / 'lraspp.onnx'}: run benchmarks/train_lraspp.py first", file=sys.stderr)
        return 2
    framework = json.loads((run / "framework.json").read_text())
    bundle, heads, full = run / "bundle", run / "heads", run / "full"
    if not (bundle / "manifest.json").is_file():
        edgeseg("export", str(run / "lraspp.onnx"), "--size", "360x480", "--classes", "camvid", "--out", str(bundle))
    ours = {}
    for split in ("val", "test"):
        out = run / f"eval_{split}.json"
        if not out.is_file():
            edgeseg("eval", str(bundle), "--images", str(CAMVID / split), "--labels", str(CAMVID / f"{split}annot"), "--json", str(out),
                    "--no-progress")
        ours[split] = json.loads(out.read_text())["miou"]
    for head in ("refiner", "stgru", "gcrf"):
        if not (heads / f"{head}.pt").is_file():
            edgeseg("train", head, "--backbone", str(bundle), "--images", str(CAMVID / "train"), "--labels", str(CAMVID / "trainannot"),
                    "--out", str(heads), "--clips", str(args.clips), "--epochs", str(args.epochs))
    if not (full / "manifest.json").is_file():
        edgeseg("export", str(bundle), "--heads-from", str(heads), "--out", str(full))
    table = run / "table.json"
    if not table.is_file():
        edgeseg("profile", "--bundle", str(full), "--source", str(CAMVID / "val"), "--labels", str(CAMVID / "valannot"),
                "--profiles", ",".join(POINTS), "--frames", "101", "--repeat", str(args.repeat), "--backend", "onnxrt",
                "--json", str(table), "--no-progress")
    rows = {r["profile"]: r for r in json.loads(table.read_text())["rows"]}

    def m(name: str) -> float:
        return float(rows[name]["miou"])
    lines = ["# Bring your own model: torchvision LR-ASPP MobileNetV3-Large on CamVid", "",
             f"Machine: {machine_line()}", "",
             f"Trained from scratch on CamVid train for {framework['epochs']} epochs (`benchmarks/train_lraspp.py`), exported by "
             "`torch.onnx.export` with dynamic H and W, deployed with `edgeseg export lraspp.onnx --size 360x480 --classes camvid`. "
             "Heads trained on the bundle's backbone graph (`edgeseg train HEAD --backbone BUNDLE`), attached with "
             "`edgeseg export BUNDLE --heads-from HEADS`. Operating points measured by `edgeseg profile` on CamVid val "
             "(101 continuous frames, 15 Hz), ONNX Runtime CPU, sync mode.", "",
             "| split | framework mIoU (torch) | `edgeseg eval` of the bundle | difference |", "|---|---|---|---|"]
    for split in ("val", "test"):
        lines.append(f"| {split} | {framework[f'miou_{split}']:.2f} | {ours[split]:.2f} | {ours[split] - framework[f'miou_{split}']:+.2f} |")
    lines += ["", "| point | D | S | mIoU % | FPS | speedup vs evs01 | ideal | efficiency | status |", "|---|---|---|---|---|---|---|---|---|"]
    for name in POINTS:
        r = rows[name]
        cells = [fmt(r.get(k), spec) for k, spec in (("miou", ".2f"), ("fps", ".1f"), ("speedup", ".2f"), ("ideal_speedup", ".2f"),
                                                      ("efficiency", ".2f"))]
        lines.append(f"| {name} | {r['D']} | {r['S']} | {' | '.join(cells)} | {r['status']} |")
    checks = [("edgeseg eval = framework mIoU within 0.15 (val, test)",
               all(abs(ours[s] - framework[f"miou_{s}"]) <= 0.15 for s in ("val", "test"))),
              ("refiner recovers >= +0.5 at S=5 (evs06 >= evs07 + 0.5)", m("evs06") >= m("evs07") + 0.5),
              ("STGRU >= per-frame (grfp >= evs01)", m("grfp") >= m("evs01"))]
    lines += ["", *(f"- {'PASS' if ok else 'FAIL'}: {what}" for what, ok in checks)]
    publish(lines, "byom_lraspp.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
