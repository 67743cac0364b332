"""``edgeseg.batch(...)`` / ``edgeseg batch``: a bundle over many videos, one output folder each, resumable.

Order of work: outputs of killed runs are swept; the INPUTs are listed; each video whose done marker matches
(same content, bundle, operating point, task and format) is skipped without starting anything, so re-running a
finished job costs seconds; the rest run in this process (``workers=1``, no address) or on Ray Data; the table of
every video (ok | failed | skipped) is written to ``DIR/batch.json`` and ``DIR/batch.csv`` (and
``DIR/batch.parquet`` where pyarrow is installed).
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgeseg._fs import atomic_path, atomic_write_text
from edgeseg._json import dumps
from edgeseg.batching.inputs import Video, list_videos, shown
from edgeseg.batching.outputs import FORMATS, read_marker, sweep
from edgeseg.batching.worker import ROW_FIELDS, TASKS, Settings, VideoWorker, bundle_digest, job_key, row
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.runtime.operating_point import OperatingPoint


def batch(inputs: str | list[str], bundle: str | Path, out: str | Path, *, profile: str | OperatingPoint = "evs07",
          task: str = "segment", fmt: str = "png", workers: int = 1, address: str | None = None, retries: int = 2,
          redo: bool = False, backend: str | None = None, progress: bool = True, ray_temp: str | None = None,
          on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Segment (``task="segment"``) or propagate given labels through (``"propagate"``) every video of ``inputs``
    into ``out``; returns one row per video (video, key, status ok|failed|skipped, frames, keyframes, fps, seconds,
    attempts, error, output), in input order. A bad video is a failed row; the others go on."""
    from edgeseg.bundle import load_bundle
    from edgeseg.profiles.schema import load_profile
    from edgeseg.runtime.engines.registry import best_backend
    from edgeseg.runtime.pipeline.core import check_graphs

    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "zstd":  # one line now, not one failed row per video
        from edgeseg.batching.outputs import ZstdSink
        ZstdSink.require()
    if workers < 1 or retries < 0:
        raise UsageError("workers must be >= 1 and retries >= 0")
    op = profile if isinstance(profile, OperatingPoint) else load_profile(profile)
    if task == "segment":  # a bad bundle, or a point it cannot run, is one line now, not one failed row per video
        check_graphs(load_bundle(bundle), op)
    else:
        load_bundle(bundle)
    videos = list_videos([inputs] if isinstance(inputs, str) else list(inputs))
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out}: {exc.strerror}") from None
    swept = sweep(out)
    if swept and progress:
        print(f"edgeseg batch: removed {swept} temporary file(s) left by an interrupted run", file=sys.stderr)
    settings = Settings(bundle=str(Path(bundle).resolve()), op=op, task=task, fmt=fmt, out=str(out.resolve()),
                        backend=backend or best_backend(), cpus=float(os.cpu_count() or 1), retries=retries,
                        bundle_digest=bundle_digest(bundle))
    rows, todo = {}, []
    for v in videos:
        marker = None if redo else read_marker(out, v.key)
        if marker is not None and marker.get("job_key") == job_key(v, settings):
            rows[v.key] = row(v, "skipped", frames=marker.get("frames", 0), keyframes=marker.get("keyframes_all", 0),
                              fps=marker.get("fps"), attempts=marker.get("attempts", 0), output=str(out / v.key))
        else:
            todo.append(v)
    use_ray = workers > 1 or bool(address) or bool(os.environ.get("RAY_ADDRESS"))
    t0 = time.perf_counter()
    with _Progress(len(todo), len(videos) - len(todo), progress) as bar:
        for r in _results(todo, settings, workers, address, ray_temp, use_ray):
            rows[r["key"]] = r
            bar.update(r)
            if on_row is not None:
                on_row(r)
    table = [rows.get(v.key) or row(v, "failed", error="no result came back from its worker") for v in videos]
    write_summary(out, table, {"bundle": str(bundle), "profile": op.name, "task": task, "format": fmt,
                               "workers": workers, "engine": "ray" if use_ray else "in-process",
                               "address": shown(address) if address else None,
                               "wall_s": round(time.perf_counter() - t0, 2)})
    return table


def _results(todo: list[Video], settings: Settings, workers: int, address: str | None, ray_temp: str | None,
             use_ray: bool) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if not use_ray:  # one worker in this process: no Ray at all
        worker = VideoWorker(settings)
        try:
            for v in todo:
                yield worker.process(v)
        finally:
            worker.close()
        return
    from edgeseg.batching.ray_pool import run_on_ray
    done = set()
    try:
        for r in run_on_ray(todo, settings, workers, address, ray_temp):
            done.add(r["key"])
            yield r
    except EdgesegError:  # Ray could not start or be joined: one error for the job
        raise
    except Exception as exc:  # Ray failed during the job (a worker that cannot start, a lost cluster): the rest fail
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for v in todo:
            if v.key not in done:
                yield row(v, "failed", error=f"Ray: {why}")


class _Progress:
    """Videos done / total and frames per second on stderr (tqdm)."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="video", desc="edgeseg batch", disable=not enabled, file=sys.stderr)
        if skipped and enabled:
            print(f"edgeseg batch: {skipped} video(s) already done (their markers match), skipped", file=sys.stderr)
        self.frames, self.failed, self.t0 = 0, 0, time.perf_counter()

    def update(self, r: dict[str, Any]) -> None:
        self.frames += r["frames"] or 0
        self.failed += r["status"] == "failed"
        rate = self.frames / max(1e-9, time.perf_counter() - self.t0)
        self.bar.set_postfix_str(f"{rate:.1f} frames/s, {self.failed} failed")
        self.bar.update(1)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def totals(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts by status and the frames of the videos processed in this run."""
    by = {s: sum(r["status"] == s for r in table) for s in ("ok", "failed", "skipped")}
    ran = [r for r in table if r["status"] == "ok"]
    return {"videos": len(table), **by, "frames": sum(r["frames"] for r in ran),
            "seconds": round(sum(r["seconds"] for r in ran), 2)}


def write_summary(out: Path, table: list[dict[str, Any]], job: dict[str, Any]) -> None:
    """``batch.json`` (job, totals, one row per video), ``batch.csv``, and ``batch.parquet`` where pyarrow is."""
    atomic_write_text(out / "batch.json", dumps({**job, "totals": totals(table), "videos": table}))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(ROW_FIELDS))
    writer.writeheader()
    writer.writerows(table)
    atomic_write_text(out / "batch.csv", text.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    with atomic_path(out / "batch.parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(table), tmp)


def summary_lines(table: list[dict[str, Any]]) -> list[str]:
    """The table printed at the end: one line per video, then the totals."""
    lines = []
    width = max(len(r["key"]) for r in table)
    for r in table:
        fps = f"{r['fps']:7.1f} FPS" if r["fps"] else " " * 11
        lines.append(f"{r['key']:<{width}}  {r['status']:<7}  {r['frames']:6d} frames  {fps}"
                     + (f"  {r['error']}" if r["error"] else ""))
    t = totals(table)
    lines.append(f"{t['videos']} videos: {t['ok']} ok, {t['skipped']} skipped, {t['failed']} failed; "
                 f"{t['frames']} frames processed in {t['seconds']:.1f} s of worker time")
    return lines
