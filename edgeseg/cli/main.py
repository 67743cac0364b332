"""``edgeseg`` entry point: parses the verb, runs it, turns EdgesegError into one line and an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from edgeseg import __version__
from edgeseg.errors import EdgesegError

# verb -> module in edgeseg.cli defining ``add_arguments(parser)`` and ``run(args) -> int``.
# Modules are imported only when their verb runs, so `edgeseg --help` stays fast (no torch import).
VERBS = {
    "train": ("train_cmd", "train the backbone or a video head (needs torch)"),
    "eval": ("eval_cmd", "per-frame mIoU of a model or bundle on an image/label folder pair"),
    "export": ("export_cmd", "export a checkpoint to an ONNX bundle with a parity gate (needs torch, onnx)"),
    "run": ("run_cmd", "run a bundle on a video/camera source under an operating point"),
    "profile": ("profile_cmd", "measure FPS, latency and accuracy of operating points side by side (table, JSON, CSV, plot)"),
    "demo": ("demo_cmd", "the whole pipeline on the bundled default model and a sample street clip, no arguments"),
    "profiles": ("profiles_cmd", "list the built-in operating points"),
    "doctor": ("doctor_cmd", "report versions, execution providers, TensorRT/CUDA availability and cameras"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"edgeseg: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgeseg", description="Export, run and profile real-time video segmentation on edge devices.")
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for verb, (module, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        importlib.import_module(f"edgeseg.cli.{module}").add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"edgeseg.cli.{VERBS[args.verb][0]}")
    try:
        return int(module.run(args) or 0)
    except EdgesegError as exc:
        print(f"edgeseg {args.verb}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"edgeseg {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
