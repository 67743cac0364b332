"""``edgeseg check BUNDLE|FILE.onnx [--tensorrt 10.3|10.13|11]``: static TensorRT-compatibility report (no TensorRT needed)."""

from __future__ import annotations

import argparse

from edgeseg._lazy import lazy_import
from edgeseg.export.tensorrt_support import versions


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="BUNDLE|FILE.onnx", help="a bundle folder (every graph TensorRT may get) or one ONNX file")
    p.add_argument("--tensorrt", action="append", choices=versions(), metavar="VERSION",
                   help=f"TensorRT version to check against, repeatable: {', '.join(versions())} "
                        "(10.3: JetPack 6; default: all)")
    p.add_argument("--warnings", action="store_true", help="also print what TensorRT accepts with restrictions")


def run(args: argparse.Namespace) -> int:
    lazy_import("onnx", "pip install onnx (or 'edgeseg[export]')")
    from edgeseg.export.tensorrt_check import check

    report = check(args.target, tuple(args.tensorrt) if args.tensorrt else None)
    errors = warnings = 0
    for version, findings in report.items():
        for f in findings:
            errors += f.error
            warnings += not f.error
            if f.error or args.warnings:
                print(f.line(version))
    verdict = "TensorRT would reject it" if errors else "TensorRT would accept it"
    print(f"{args.target}: {errors} error(s), {warnings} warning(s) for TensorRT {', '.join(report)}: {verdict}"
          + ("" if args.warnings or not warnings else " (--warnings lists the warnings)"))
    return 1 if errors else 0
