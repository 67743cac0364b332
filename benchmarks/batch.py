"""``edgeseg batch``: throughput with 1 and 2 workers against a plain loop over the same videos, Ray's start-up, a
finished job re-run, and the propagate task's accuracy on CamVid val.

Throughput: N copies of the highway clip (221 frames, 960x540, links under different names: N videos) at one
operating point, labels written as PNGs in every case. The plain loop is what a user writes without batch: one
``edgeseg.Segmenter``, ``stream()`` over each video, ``cv2.imwrite`` of each frame's labels. Propagate: CamVid val
(101 frames, 15 Hz) with its ground-truth labels given every k frames; mIoU of the frames in between (the
filled-in ones) against their ground truth. Writes benchmarks/results/batch.md.

    python benchmarks/batch.py [--bundle runs/bundle_default] [--profile evs07] [--videos 6] [--ks 5,10,30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
from _report import DATA, ensure_bundle, machine_line, publish

import edgeseg
from edgeseg.batching.job import batch
from edgeseg.bundle import load_bundle
from edgeseg.data.folders import list_images
from edgeseg.data.metrics import ConfusionMatrix


def plain_loop(bundle: Path, profile: str, videos: list[Path], out: Path) -> float:
    t = time.perf_counter()
    with edgeseg.Segmenter(bundle, profile=profile) as seg:
        for v in videos:
            folder = out / v.stem
            folder.mkdir(parents=True)
            for r in seg.stream(str(v)):
                cv2.imwrite(str(folder / f"{r.index:06d}.png"), r.labels)
    return time.perf_counter() - t


def timed_batch(videos: list[Path], bundle: Path, out: Path, profile: str, workers: int) -> tuple[float, list[dict]]:
    t = time.perf_counter()
    table = batch([str(v) for v in videos], bundle, out, profile=profile, workers=workers, progress=False)
    wall = time.perf_counter() - t
    bad = [r for r in table if r["status"] == "failed"]
    if bad:
        raise SystemExit(f"batch failed on {bad[0]['video']}: {bad[0]['error']}")
    return wall, table


def ray_startup() -> float:
    import ray
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    ray.shutdown()
    return time.perf_counter() - t


def throughput(bundle: Path, profile: str, n: int, tmp: Path) -> list[str]:
    clip = DATA / "video" / "solidWhiteRight.mp4"
    videos = []
    for k in range(n):
        link = tmp / "videos" / f"drive{k:02d}.mp4"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(clip)
        videos.append(link)
    frames = 221 * n
    # two rounds, interleaved, the better of each: this shared machine's phases moved single runs by 20%
    loops, ones, twos = [], [], []
    for r in range(2):
        loops.append(plain_loop(bundle, profile, videos, tmp / f"loop{r}"))
        ones.append(timed_batch(videos, bundle, tmp / f"w1-{r}", profile, 1)[0])
        twos.append(timed_batch(videos, bundle, tmp / f"w2-{r}", profile, 2)[0])
    loop, one, two = min(loops), min(ones), min(twos)
    rerun, table = timed_batch(videos, bundle, tmp / "w1-0", profile, 1)
    assert all(r["status"] == "skipped" for r in table)
    start = ray_startup()
    rows = [("plain loop (Segmenter.stream + cv2.imwrite)", loop), ("batch --workers 1 (in this process)", one),
            ("batch --workers 2 (Ray Data, local)", two)]
    lines = [f"## Throughput: {n} videos x 221 frames (960x540, highway clip), {profile}, PNG labels", "",
             "Wall time of the whole job, the better of two interleaved rounds.", "",
             "| run | wall s | frames/s | vs plain loop |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {wall:.1f} | {frames / wall:.1f} | {loop / wall:.2f}x |" for name, wall in rows]
    lines += ["", f"- batch --workers 1 costs {1000 * (one - loop) / n:+.0f} ms per video against the plain loop "
              "(listing, markers, stats.json, the class histogram, the summary files; within this machine's noise when "
              "negative).",
              f"- Ray start-up alone (ray.init + shutdown, 2 CPUs, measured on its own): {start:.1f} s; the 2-worker "
              f"run's wall time includes it and each actor loading the engines once.",
              f"- Re-running the finished job (every marker matches, Ray never starts): {1000 * rerun:.0f} ms.",
              "- This machine has 2 cores: two workers get half a core's share each (one CPU is left to Ray), so they "
              "add no throughput here; they are for machines and clusters with cores to spare.", ""]
    return lines


def propagate_accuracy(bundle: Path, ks: list[int], tmp: Path) -> list[str]:
    val, annot = DATA / "camvid" / "val", DATA / "camvid" / "valannot"
    frames = list_images(val)
    truth = {p.stem: cv2.imread(str(annot / f"{p.stem}.png"), cv2.IMREAD_UNCHANGED) for p in frames}
    classes = load_bundle(bundle).manifest.classes
    lines = ["## Propagate: CamVid val, ground truth given every k frames", "",
             "mIoU of the frames between the given ones (the filled-in frames) against their ground truth; DIS flow "
             "with the default flow parameters, nearest-neighbour warp (the pipeline's propagated-frame path).", "",
             "| k | given frames | filled-in frames | mIoU % | pixel accuracy % | frames/s |", "|---:|---:|---:|---:|---:|---:|"]
    for k in ks:
        given = tmp / f"given{k}"
        given.mkdir()
        for i in range(0, len(frames), k):
            (given / f"{frames[i].stem}.png").symlink_to(annot / f"{frames[i].stem}.png")
        manifest = tmp / f"val{k}.jsonl"
        manifest.write_text(f'{{"uri": "{val}", "labels": "{given}"}}\n')
        t = time.perf_counter()
        row = batch(str(manifest), bundle, tmp / f"prop{k}", task="propagate", progress=False)[0]
        wall = time.perf_counter() - t
        if row["status"] != "ok":
            raise SystemExit(f"propagate failed: {row['error']}")
        cm = ConfusionMatrix(len(classes.names), classes.ignore_id)
        filled = [p.stem for i, p in enumerate(frames) if i % k]
        for stem in filled:
            cm.update(cv2.imread(str(Path(row["output"]) / "labels" / f"{stem}.png"), cv2.IMREAD_UNCHANGED), truth[stem])
        acc = cm.matrix.trace() / max(1, cm.matrix.sum())
        lines.append(f"| {k} | {len(frames) - len(filled)} | {len(filled)} | {100 * cm.miou():.2f} | {100 * acc:.2f} | "
                     f"{row['frames'] / wall:.1f} |")
        print(lines[-1], file=sys.stderr)
    return lines + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/bundle_default")
    ap.add_argument("--profile", default="evs07")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--ks", default="5,10,30")
    args = ap.parse_args()
    if not (DATA / "video" / "solidWhiteRight.mp4").is_file() or not (DATA / "camvid" / "val").is_dir():
        print(f"skip: the highway clip or CamVid val not found under {DATA}", file=sys.stderr)
        return 0
    bundle = ensure_bundle(Path(args.bundle))
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["# edgeseg batch", "", f"Machine: {machine_line()}. Command: `python benchmarks/batch.py`.", ""]
        lines += throughput(bundle, args.profile, args.videos, Path(tmp))
        lines += propagate_accuracy(bundle, [int(k) for k in args.ks.split(",")], Path(tmp))
    publish(lines, "batch.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
