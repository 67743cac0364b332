"""A network camera that reboots: ffmpeg serves the highway clip (looped) over HTTP on loopback at its native rate;
`edgeseg run --mode live --reconnect 90` reads it; the server is killed twice, for 10 s and for 60 s, and started
again each time. The run must survive both, with frames resuming after each, and count both outages in its stats.
Ends with SIGINT (exit 130, stats written). Writes benchmarks/results/camera_outage.md.

    python benchmarks/camera_outage.py [--bundle runs/bundle_default] [--outages 10,60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import DATA, ensure_bundle, publish

FFMPEG = shutil.which("ffmpeg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(clip: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([FFMPEG or "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
                             "-i", str(clip), "-an", "-c:v", "mpeg2video", "-q:v", "5", "-f", "mpegts", "-listen", "1", url],
                            stdin=subprocess.DEVNULL)


def frames_so_far(stats_url: str) -> int:
    """Frames the run has processed, from its live view's /stats.json (0 when it does not answer)."""
    import urllib.request
    try:
        with urllib.request.urlopen(stats_url, timeout=2) as r:
            return int(json.load(r)["frames"])
    except Exception:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="runs/bundle_default")
    ap.add_argument("--outages", default="10,60", help="seconds each outage lasts")
    args = ap.parse_args()
    clip = DATA / "video" / "solidWhiteRight.mp4"
    if FFMPEG is None or not clip.is_file():
        print(f"skip: needs ffmpeg and {clip}", file=sys.stderr)
        return 0
    bundle = ensure_bundle(Path(args.bundle))
    outages = [float(s) for s in args.outages.split(",")]
    url, view_port = f"http://127.0.0.1:{free_port()}/cam.ts", free_port()
    work = Path(tempfile.mkdtemp(prefix="edgeseg-outage-"))
    server = serve(clip, url)
    time.sleep(1.5)
    run = subprocess.Popen([sys.executable, "-m", "edgeseg", "run", "--bundle", str(bundle), "--source", url, "--mode", "live",
                            "--profile", "evs07", "--sink", f"http://127.0.0.1:{view_port}", "--reconnect", "90",
                            "--stats", str(work / "stats.json"), "--quiet"], stderr=subprocess.PIPE, text=True)
    stats_url = f"http://127.0.0.1:{view_port}/stats.json"
    rows = []
    try:
        time.sleep(8)
        for seconds in outages:
            before = frames_so_far(stats_url)
            server.kill()
            server.wait()
            t = time.time()
            time.sleep(seconds)
            during = frames_so_far(stats_url) - before
            server = serve(clip, url)
            deadline, resumed_after = time.time() + 60, None
            base = frames_so_far(stats_url)
            while time.time() < deadline and run.poll() is None:
                if frames_so_far(stats_url) > base + 10:
                    resumed_after = time.time() - t
                    break
                time.sleep(0.25)
            rows.append((seconds, during, resumed_after, run.poll() is None))
            print(f"outage {seconds:g} s: frames during {during}, resumed {resumed_after} s after the cut", file=sys.stderr)
            time.sleep(5)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
        server.kill()
        server.wait()
    stats = json.loads((work / "stats.json").read_text()) if (work / "stats.json").is_file() else {}
    out = stats.get("outages", {})
    lines = ["# A network camera that reboots", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}. "
             "ffmpeg serves solidWhiteRight.mp4 (looped, 960x540, 25 fps) as MPEG-TS over HTTP on loopback; "
             "`edgeseg run --mode live --reconnect 90 --profile evs07`; the server is killed and restarted after each outage.",
             "", "| outage | frames while down | frames resumed after (s from the cut) | run still going |", "|---:|---:|---:|---|"]
    lines += [f"| {s:g} s | {d} | {'-' if r is None else f'{r:.1f}'} | {'yes' if alive else 'no'} |" for s, d, r, alive in rows]
    lines += ["", f"Stats at the end (SIGINT, exit code {run.returncode}): {stats.get('frames')} frames, "
              f"outages counted {out.get('count')}, {out.get('seconds')} s in all, longest {out.get('longest_s')} s; "
              f"ended: {stats.get('end')}."]
    if err.strip():
        lines += ["", "stderr of the run:", "", *[f"    {line}" for line in err.strip().splitlines()[-6:]]]
    publish(lines, "camera_outage.md")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
