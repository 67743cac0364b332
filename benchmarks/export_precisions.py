"""Export precisions side by side: ONNX Runtime CPU latency per graph and precision, speedup vs fp32 measured
in the same run, the parity figures and the backbone mIoU on CamVid test (from each bundle's parity.json).

Bundles are exported into --work/<precision> unless they already exist there (--reexport forces it).
Latency: median of --runs timed runs after --warmup, the precisions of one graph interleaved run by
run so that machine noise hits them alike; random inputs of the manifest's shapes (latency does not
depend on values). Writes the table to benchmarks/results/export_precisions.md.

    python benchmarks/export_precisions.py [--model default] [--work runs/precisions] [--runs 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from _report import publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bundle import AUTO, ORT_X86, load_bundle
from edgeseg.bundle.manifest import GraphEntry
from edgeseg.export.bundle import ExportOptions, export_bundle
from edgeseg.export.parity import ort_session

PRECISIONS = ("fp32", "fp16", "int8")


def random_feed(entry: GraphEntry, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in entry.inputs}


def time_interleaved(sessions: dict[str, ort.InferenceSession], feed: dict, warmup: int, runs: int) -> dict[str, float]:
    for s in sessions.values():
        for _ in range(warmup):
            s.run(None, feed)
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(runs):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feed)
            times[k].append(time.perf_counter() - t)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="checkpoint set to export (default: %(default)s)")
    ap.add_argument("--work", default="runs/precisions", help="folder for the bundles (default: %(default)s)")
    ap.add_argument("--reexport", action="store_true", help="export again even if a bundle exists")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per graph and precision (>= 20)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default: %(default)s)")
    args = ap.parse_args()
    work = Path(args.work)
    bundles = {}
    for precision in PRECISIONS:
        out = work / precision
        if args.reexport or not (out / "manifest.json").is_file():
            t = time.time()
            export_bundle(ExportOptions(model=args.model, out=str(out), precision=precision, allow_parity_failure=True))
            print(f"exported {precision} in {time.time() - t:.0f} s", file=sys.stderr)
        bundles[precision] = load_bundle(out)
    rng = np.random.default_rng(0)
    lines = [f"# Export precisions: ONNX Runtime {ort.__version__} CPU, {args.threads} threads",
             "", f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}.",
             f"Latency: median of {args.runs} runs after {args.warmup} warm-up runs, precisions interleaved. "
             "int8 [TRT form] is the symmetric-int8 Q/DQ graph that TensorRT consumes; ONNX Runtime on x86 "
             f"runs the `{ORT_X86}` twin (uint8 activations).", "",
             "| graph | precision | file | ms | speedup vs fp32 | max abs diff | agreement % | mIoU % (fp32) | gate |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for key, entry in bundles["fp32"].graphs.items():
        rows = {}  # label -> (precision, parity row of the file timed, path)
        for precision in PRECISIONS:
            bundle = bundles[precision]
            parity = json.loads((bundle.root / "parity.json").read_text())[key]
            path = bundle.graph_path(key, variant=AUTO)
            twin = ORT_X86 in bundle.graphs[key].variants and path != bundle.graph_path(key)
            rows[precision] = (parity, parity["variants"][ORT_X86] if twin else parity, path)
            if twin:
                rows["int8 [TRT form]"] = (parity, parity, bundle.graph_path(key))
        sessions = {label: ort_session(path, args.threads) for label, (_, _, path) in rows.items()}
        ms = time_interleaved(sessions, random_feed(entry, rng), args.warmup, args.runs)
        for label, (parity, row, path) in rows.items():
            miou = f"{row['miou']:.2f} ({row['miou_fp32']:.2f})" if row.get("miou") is not None else "-"
            gate = "fell back to fp32" if parity.get("fallback") else "ok" if row["passed"] else "FAILED"
            lines.append(f"| {key} | {label} | {path.name} | {ms[label]:.2f} | {ms['fp32'] / ms[label]:.2f}x | "
                         f"{row['max_abs_diff']:.2e} | {row['pixel_agreement']:.3f} | {miou} | {gate} |")
    publish(lines, "export_precisions.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
