"""Issue 30: one exit-code table for every verb (README "Exit codes"): 0 done, 1 a failure at run time, 2 usage,
130 SIGINT, 143 SIGTERM. The signals are real ones, sent to a real ``python -m edgeseg VERB`` in the middle of its
work; after them nothing temporary or partial is left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from edgeseg.cli import main as cli
from tests.cli.test_failure_modes import default_signals, frame_count, write_clip
from tests.conftest import run_cli

SIGNALS = [signal.SIGINT, signal.SIGTERM]
CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Verb:
    """``python -m edgeseg ARGS`` in the background, its stderr collected as it comes (progress bars included)."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "edgeseg", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, preexec_fn=default_signals)
        self.out, self.err = bytearray(), bytearray()
        self.pumps = [threading.Thread(target=self._read, args=(pipe, into), daemon=True)
                      for pipe, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _read(pipe, into: bytearray) -> None:
        for chunk in iter(lambda: pipe.read1(4096), b""):
            into += chunk

    def interrupt_when(self, busy, sig: signal.Signals, timeout: float = 120.0) -> tuple[int, str, str]:
        """Send ``sig`` once ``busy()`` says the verb is in the middle of its work; (exit code, stdout, stderr)."""
        deadline = time.time() + timeout
        while not busy() and time.time() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        assert self.proc.poll() is None, f"it ended before it could be interrupted: {self.err.decode(errors='replace')}"
        self.proc.send_signal(sig)
        self.proc.wait(timeout=120)
        for t in self.pumps:
            t.join(timeout=10)
        return self.proc.returncode, self.out.decode(errors="replace"), self.err.decode(errors="replace")


def interrupted_line(err: str, verb: str, sig: signal.Signals) -> None:
    assert "Traceback" not in err, err
    last = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()][-1]
    assert last == f"edgeseg {verb}: interrupted by {sig.name}; nothing partial was kept", err


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("long") / "long.avi", frames=3000)


# --- 0, 1, 2 ------------------------------------------------------------------------------------------------

def test_edgeseg_alone_prints_the_help_to_stdout_and_exits_2():
    r = run_cli()
    assert r.returncode == 2 and r.stderr == "", r.stderr
    assert r.stdout.startswith("usage: edgeseg") and all(verb in r.stdout for verb in cli.VERBS), r.stdout


def test_help_and_version_exit_0():
    assert run_cli("--help").returncode == 0
    assert run_cli("--version").returncode == 0


@pytest.mark.parametrize("args", [["nonsense"], ["run"], ["eval", "m", "--images"], ["profiles", "--show", "nope"]])
def test_usage_errors_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr


def test_ok_is_0_and_a_runtime_failure_is_1(tiny_set, tmp_path):
    assert run_cli("profiles").returncode == 0
    r = run_cli("run", "--bundle", str(tiny_set[1]), "--source", "7", "--quiet")  # there is no camera 7
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr


# --- signals ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_run_stops_gracefully_and_exits_by_the_signal(tiny_set, long_clip, tmp_path, sig):
    """run keeps its graceful stop (current frame finished, video finalised, stats written) and says which signal."""
    out = tmp_path / "o"
    out.mkdir()
    verb = Verb("run", "--bundle", str(tiny_set[1]), "--source", str(long_clip), "--sink", str(out / "out.mp4"),
                "--stats", str(out / "stats.json"), "--profile", "evs01", "--quiet")
    code, stdout, err = verb.interrupt_when(lambda: any(p.stat().st_size > 20_000 for p in out.glob(".out*")), sig)
    assert code == CODE[sig] and "Traceback" not in err, err
    assert f"edgeseg run: stopped by {sig.name}" in err, err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["end"] == "stopped" and 0 < stats["frames"] < 3000
    assert frame_count(out / "out.mp4") == stats["frames"]
    assert sorted(p.name for p in out.iterdir()) == ["out.mp4", "stats.json"]  # no temporary file left


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_profile_interrupted_exits_by_the_signal_and_writes_nothing(tiny_set, long_clip, tmp_path, sig):
    out = tmp_path / "o"
    out.mkdir()
    verb = Verb("profile", "--bundle", str(tiny_set[1]), "--source", str(long_clip), "--frames", "3000", "--repeat", "3",
                "--profiles", "evs01,evs07,evs13", "--json", str(out / "p.json"), "--csv", str(out / "p.csv"))
    code, _, err = verb.interrupt_when(lambda: b"frame/s" in verb.err or b"s/frame" in verb.err, sig)  # the sweep's bar
    assert code == CODE[sig], err
    interrupted_line(err, "profile", sig)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_export_interrupted_exits_by_the_signal_and_leaves_no_bundle(tiny_root, tmp_path, sig):
    out = tmp_path / "out"
    out.mkdir()
    verb = Verb("export", str(tiny_root / "model"), "--out", str(out / "b"), "--calib", str(tiny_root / "frames"),
                "--parity-frames", "4", "--precision", "int8", "--calib-frames", "4", "--no-progress")
    code, _, err = verb.interrupt_when(lambda: bool(list(out.glob(".b.*.partial"))), sig)
    assert code == CODE[sig], err
    interrupted_line(err, "export", sig)
    assert list(out.iterdir()) == []


def test_batch_interrupted_exits_143_and_publishes_no_partial_video(tiny_set, long_clip, tmp_path):
    out = tmp_path / "o"
    verb = Verb("batch", str(long_clip), "--bundle", str(tiny_set[1]), "--out", str(out), "--no-progress")
    code, _, err = verb.interrupt_when(lambda: any(".tmp-" in p.name for p in out.glob(".*")), signal.SIGTERM)
    assert code == 143, err
    interrupted_line(err, "batch", signal.SIGTERM)
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []  # no output under a final name


def test_an_error_a_library_makes_of_sigterm_is_reported_as_sigterm(tmp_path, capsys):
    """Once a stop was asked for, any error that follows is the interruption: 143 after SIGTERM, not 1 or 2."""
    cli._stop_requested.set()
    cli._received.append(signal.SIGTERM)
    try:
        code = cli.main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "b")])
    finally:
        cli._stop_requested.clear()
        cli._received.clear()
    assert code == 143 and "interrupted by SIGTERM" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "b")]) == 2
