"""What the live view costs the pipeline: FPS with 0 viewers (the baseline, measured in the same run) vs 50 MJPEG
viewers vs 1,000 idle TCP connections, in sync mode and in live mode. Target: under 5% FPS cost.

A generated 480x360 clip (textured, moving) runs through ``open_session`` with an ``http://127.0.0.1:0`` sink (the
live view) and the default bundle. The load comes from another process (real sockets: viewers read /stream.mjpg to
the end; idle connections send nothing and are reopened when the server closes them), at nice 19: viewers sit on
other machines, their reading is not the view's cost. Each repeat runs the three conditions in a rotated order and
compares each with that repeat's own baseline; the median ratio is reported. Live mode plays the clip at 240 FPS,
above what the pipeline can take, so its FPS is the pipeline's capacity (the rest is dropped). /stats.json is polled
and timed during every run. Then the view alone (no pipeline; fed 100 ticks a second) gives its own CPU under each
load: the most it can take from the pipeline, a figure other processes on the machine barely move. Writes
benchmarks/results/live_view_load.md.

    python benchmarks/live_view_load.py [--bundle runs/bundle_default] [--profile evs07] [--repeats 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from _report import ensure_bundle, machine_line, publish  # benchmarks/_report.py (scripts run from this folder)

from edgeseg.bundle import load_bundle
from edgeseg.profiles import load_profile
from edgeseg.runtime.io.http_view import VIEW_FPS
from edgeseg.runtime.pipeline.launch import open_session

VIEWERS, IDLE = 50, 1000
CONDITIONS = ("0 viewers", f"{VIEWERS} MJPEG viewers", f"{IDLE} idle connections")


def write_clip(path: Path, frames: int, fps: float, size=(480, 360)) -> str:
    """A textured scene panning 3 px a frame (optical flow has something to follow)."""
    w, h = size
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (h, w + 3 * frames, 3), dtype=np.uint8), (9, 9), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(np.ascontiguousarray(scene[:, 3 * i:3 * i + w]))
    writer.release()
    return str(path)


def load(kind: str, port: int, ready, stop, received) -> None:
    """The other process: ``kind`` "viewers" (read /stream.mjpg to the end) or "idle" (connect, send nothing)."""
    os.nice(19)
    if kind == "viewers":
        def watch() -> None:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                got = 0
                while not stop.is_set() and (chunk := s.recv(65536)):
                    got += len(chunk)
                with received.get_lock():
                    received.value += got
        threads = [threading.Thread(target=watch, daemon=True) for _ in range(VIEWERS)]
        for t in threads:
            t.start()
        ready.set()
        for t in threads:
            t.join()
        return
    sel = selectors.DefaultSelector()
    for _ in range(IDLE):
        sel.register(socket.create_connection(("127.0.0.1", port)), selectors.EVENT_READ)
    ready.set()
    while not stop.is_set():  # the server closes an idle connection after 10 s: another takes its place at once
        for key, _ in sel.select(0.2):
            sel.unregister(key.fileobj)
            key.fileobj.close()
            try:
                sel.register(socket.create_connection(("127.0.0.1", port)), selectors.EVENT_READ)
            except OSError:  # the run ended and closed the view
                return


def poll_stats(url: str, stop: threading.Event, times: list[float]) -> None:
    """GET /stats.json every 0.2 s while the run goes on (a dashboard's poll), timing each."""
    while not stop.wait(0.2):
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(url + "stats.json", timeout=10) as r:
                r.read()
        except OSError:  # the run ended and closed the view meanwhile
            return
        times.append(time.perf_counter() - t)


class Load:
    """The load of ``condition`` on the view at ``port`` from another process, and /stats.json polled meanwhile."""

    def __init__(self, view, condition: str):
        self.kind = {CONDITIONS[1]: "viewers", CONDITIONS[2]: "idle"}.get(condition)
        ctx = mp.get_context("spawn")
        self.ready, self.stop, self.received = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
        self.child = None
        if self.kind:
            self.child = ctx.Process(target=load, args=(self.kind, view.server.server_address[1], self.ready, self.stop,
                                                        self.received), daemon=True)
            self.child.start()
            self.ready.wait(60)
            deadline = time.time() + 30
            while self.kind == "viewers" and view.watchers < VIEWERS and time.time() < deadline:
                time.sleep(0.05)
        self.polled: list[float] = []
        self.done = threading.Event()
        self.poller = threading.Thread(target=poll_stats, args=(view.url, self.done, self.polled), daemon=True)
        self.poller.start()

    def end(self) -> dict:
        self.done.set()
        self.stop.set()
        self.poller.join(15)
        if self.child is not None:
            self.child.join(30)
        return {"stats_ms": 1000 * statistics.median(self.polled) if self.polled else float("nan"),
                "stats_max_ms": 1000 * max(self.polled, default=float("nan")), "bytes": self.received.value}


VIEW = "http://127.0.0.1:0"  # the live view's URI (--view-fps adds ?fps=N)


def run(bundle, op, clip: str, mode: str, condition: str) -> dict:
    """One session over ``clip`` with the live view under ``condition``'s load: its figures."""
    session, view = open_session(bundle, op, [clip], [VIEW], mode=mode)
    view.attach(session, [op.name])
    load_ = Load(view, condition)
    t, cpu = time.perf_counter(), time.process_time()
    stats = session.run().stats
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    encoded = view._seq  # frames the encoder made for the viewers
    polled = load_.end()
    return {"fps": stats["fps"], "cpu_ms": 1000 * cpu / max(1, stats["frames"]), "dropped": stats["dropped"],
            "p50": stats["latency_ms"]["p50"], "encoded_fps": encoded / wall, "mb_s": polled["bytes"] / wall / 1e6, **polled}


def view_alone(condition: str, seconds: float = 5.0) -> dict:
    """The live view with no pipeline, fed 100 ticks a second (one 480x360 frame) under ``condition``'s load: the
    process's CPU per second of wall time (the view's threads, the feeding loop and the poller)."""
    from types import SimpleNamespace

    from edgeseg.runtime.io.http_view import LiveViewServer
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8), (9, 9), 0)
    labels = (np.arange(360 * 480).reshape(360, 480) // 5000 % 11).astype(np.uint8)
    view = LiveViewServer(VIEW, rng.integers(0, 255, (11, 3), dtype=np.uint8), None)
    session = SimpleNamespace(streams=[SimpleNamespace(last=(rgb, labels))])
    load_ = Load(view, condition)
    t, cpu, ticks = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - t < seconds:
        view.on_tick(session, None)
        ticks += 1
        time.sleep(max(0.0, t + ticks / 100 - time.perf_counter()))
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    encoded = view._seq
    view.close()
    polled = load_.end()
    return {"cpu_ms_s": 1000 * cpu / wall, "encoded_fps": encoded / wall, "mb_s": polled["bytes"] / wall / 1e6, **polled}


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(Path(__file__).resolve().parents[1] / "runs" / "bundle_default"))
    ap.add_argument("--profile", default="evs07")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--view-fps", type=float, default=None, help=f"frames a second the viewers get (default: {VIEW_FPS})")
    ap.add_argument("--out", default="live_view_load.md", help="result file under benchmarks/results")
    args = ap.parse_args()
    global VIEW
    if args.view_fps:
        VIEW = f"http://127.0.0.1:0?fps={args.view_fps:g}"
    view_fps = args.view_fps or VIEW_FPS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * IDLE:  # both ends of 1,000 connections in this process tree
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * IDLE), hard))
    bundle, op = load_bundle(ensure_bundle(Path(args.bundle))), load_profile(args.profile)
    began = time.perf_counter()
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {"sync": write_clip(Path(tmp) / "sync.avi", 300, 30), "live": write_clip(Path(tmp) / "live.avi", 720, 240)}
        run(bundle, op, clips["sync"], "sync", CONDITIONS[0])  # warms ONNX Runtime and the caches up: not counted
        for i in range(args.repeats):
            for mode in ("sync", "live"):
                done = {}
                for condition in CONDITIONS[i % 3:] + CONDITIONS[:i % 3]:  # rotated: drift hits every condition alike
                    done[condition] = r = run(bundle, op, clips[mode], mode, condition)
                    print(f"{mode:4s} {condition:22s} {r['fps']:.1f} FPS, {r['cpu_ms']:.2f} CPU ms/frame, "
                          f"encoded {r['encoded_fps']:.1f}/s, {r['mb_s']:.1f} MB/s to viewers", file=sys.stderr)
                for condition, r in done.items():  # against this repeat's own baseline
                    r["vs"] = r["fps"] / done[CONDITIONS[0]]["fps"]
                    r["cpu_vs"] = r["cpu_ms"] / done[CONDITIONS[0]]["cpu_ms"]
                    rows.setdefault((mode, condition), []).append(r)
    alone = {c: view_alone(c) for c in CONDITIONS}
    lines = [f"# Live view under load: {op.name} ({op.label()}), bundle {Path(args.bundle).name}", "",
             f"Machine: {machine_line()}.", "",
             "A generated 480x360 clip through `open_session` with the live view (`http://127.0.0.1:0`); the load from "
             f"another process on this machine at nice 19; {args.repeats} repeats, each running the three loads in a "
             "rotated order; FPS ratio = against the same repeat's 0-viewer run, median over repeats; FPS excludes 3 "
             "warm-up frames. Sync: 300 frames, every one processed. Live: the clip played at 240 FPS (above capacity: "
             "FPS = what the pipeline takes, the rest dropped). The view renders and JPEG-encodes the newest frame on "
             f"a thread of its own, at most {view_fps:g} a second (`?fps=`), only while someone watches; its encoder and "
             "stream threads run at nice 10.", "",
             "| mode | load | FPS | vs 0 viewers | CPU ms/frame | vs 0 viewers | latency p50 ms | dropped | "
             "frames encoded /s | MB/s to viewers | /stats.json ms p50 / max |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in ("sync", "live"):
        for condition in CONDITIONS:
            rs = rows[(mode, condition)]
            lines.append(f"| {mode} | {condition} | {med(rs, 'fps'):.1f} | {med(rs, 'vs'):.3f} | {med(rs, 'cpu_ms'):.2f} | "
                         f"{med(rs, 'cpu_vs'):.3f} | {med(rs, 'p50'):.1f} | {med(rs, 'dropped'):.0f} | "
                         f"{med(rs, 'encoded_fps'):.1f} | {med(rs, 'mb_s'):.1f} | "
                         f"{med(rs, 'stats_ms'):.1f} / {max(r['stats_max_ms'] for r in rs):.1f} |")
    lines += ["", "The view alone (no pipeline, fed 100 ticks a second, 5 s each): what it costs the process.", "",
              "| load | CPU ms per s | frames encoded /s | MB/s to viewers | /stats.json ms p50 / max |", "|---|---:|---:|---:|---:|"]
    for condition, r in alone.items():
        lines.append(f"| {condition} | {r['cpu_ms_s']:.0f} | {r['encoded_fps']:.1f} | {r['mb_s']:.1f} | "
                     f"{r['stats_ms']:.1f} / {r['stats_max_ms']:.1f} |")
    lines += ["", "FPS cost = 1 - (vs 0 viewers); target under 5%. /stats.json: polled every 0.2 s during each run. "
              f"Whole benchmark: {time.perf_counter() - began:.0f} s."]
    publish(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
