"""``edgeseg`` entry point: parses the verb, runs it, turns EdgesegError into one line and an exit code.

Exit codes, the same for every verb: 0 done; 1 a failure at run time (a source lost, a gate failed, a video of a
batch failed, a disk full); 2 usage (a bad flag, a bad file or value the user named, a missing extra, ``edgeseg``
with no verb); 130 stopped by SIGINT (Ctrl-C); 143 stopped by SIGTERM (128 + the signal's number, as a shell
reports it). A stopped verb leaves nothing partial: exports and output files are written atomically, and ``run``
ends after the current frame with its video finalised and its stats written.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
import warnings
from typing import Sequence

from edgeseg import __version__
from edgeseg._uri import redact_uri
from edgeseg.cli.common import signal_exit_code
from edgeseg.errors import EdgesegError

# OpenCV and FFmpeg print their own warnings for failures that edgeseg reports in one line (set these to
# debug a source). Set before any verb imports cv2.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

# verb -> module in edgeseg.cli defining ``add_arguments(parser)`` and ``run(args) -> int``.
# Modules are imported only when their verb runs, so `edgeseg --help` stays fast (no torch import).
VERBS = {
    "train": ("train_cmd", "train the backbone or a video head (needs torch)"),
    "eval": ("eval_cmd", "per-frame mIoU of a model or bundle on an image/label folder pair"),
    "export": ("export_cmd", "export a checkpoint to an ONNX bundle with a parity gate (needs torch, onnx)"),
    "run": ("run_cmd", "run a bundle on a video/camera source under an operating point"),
    "profile": ("profile_cmd", "measure FPS, latency and accuracy of operating points side by side (table, JSON, CSV, plot)"),
    "batch": ("batch_cmd", "a bundle over many videos (folders, globs, manifests), one output folder each, resumable; "
                           "in this process or on Ray Data, one machine or a cluster"),
    "demo": ("demo_cmd", "the whole pipeline on the bundled default model: CamVid val when found, else a sample clip; every option has a default"),
    "check": ("check_cmd", "static TensorRT-compatibility report of a bundle or ONNX file (no TensorRT needed)"),
    "profiles": ("profiles_cmd", "list the built-in operating points"),
    "doctor": ("doctor_cmd", "report versions, execution providers, TensorRT/CUDA availability and cameras"),
}


# A full disk, a quota or a refused write anywhere below a verb: one line, exit 1 (outputs are written atomically).
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"edgeseg: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``verb``'s module is imported for its arguments (None: every verb's), so `edgeseg --help`
    and `edgeseg VERB --help` import no other verb and none of torch, cv2 or onnxruntime."""
    parser = _Parser(prog="edgeseg", description="Export, run and profile real-time video segmentation on edge devices.")
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if verb is None or name == verb:
            importlib.import_module(f"edgeseg.cli.{module}").add_arguments(p)
    return parser


def _verb(argv: Sequence[str]) -> str:
    """The verb named on the command line (the first word that is not an option), or "" when there is none."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in VERBS else ""


EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


# Set by Ctrl-C / SIGTERM. A library that catches the KeyboardInterrupt (torch.export turns one landing inside it into
# its own error) would otherwise make an interruption look like a failure of the work.
_stop_requested = threading.Event()
_received: list[int] = []  # the signal that asked for the stop (its exit code is 128 + it)


def _terminate(signum: int, frame: object) -> None:
    if not _received:
        _received.append(signum)
    _stop_requested.set()
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C: temporary files are removed, outputs finalised


def _interrupted(verb: str) -> int:
    """The one line and exit code of a verb stopped by a signal (Ctrl-C without a handler of ours counts as SIGINT)."""
    signum = _received[0] if _received else signal.SIGINT
    print(f"edgeseg {verb}: interrupted by {signal.Signals(signum).name}; nothing partial was kept", file=sys.stderr)
    return signal_exit_code(signum)


def _one_line_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> str:
    return f"edgeseg: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning  # e.g. "C kernels are not built": one line, not a source location
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # `edgeseg` alone: what it can do, and a usage exit code (nothing was asked)
        build_parser("").print_help(sys.stdout)
        return EXIT_USAGE
    args = build_parser(_verb(argv)).parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _terminate)
    module = importlib.import_module(f"edgeseg.cli.{VERBS[args.verb][0]}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(args.verb)
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush into the closed pipe
        return EXIT_OK
    except Exception as exc:
        if _stop_requested.is_set():  # whatever a library made of the interruption, it is the interruption
            return _interrupted(args.verb)
        if isinstance(exc, EdgesegError):
            print(f"edgeseg {args.verb}: error: {redact_uri(str(exc))}", file=sys.stderr)  # a camera's password stays out
            return exc.exit_code
        if isinstance(exc, OSError) and exc.errno in OUTPUT_ERRNOS:
            print(f"edgeseg {args.verb}: error: cannot write {exc.filename or 'an output'}: {exc.strerror}; "
                  "free some space or choose another output folder", file=sys.stderr)
            return EXIT_FAILURE
        raise  # a bug: keep its traceback


if __name__ == "__main__":
    sys.exit(main())
