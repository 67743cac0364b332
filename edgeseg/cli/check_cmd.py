"""``edgeseg check BUNDLE|FILE.onnx [--tensorrt 10.3|10.13|11]``: static TensorRT-compatibility report (no TensorRT needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgeseg._lazy import lazy_import
from edgeseg.export.tensorrt_support import versions

# edgeseg's keyframe pre/post graphs (edgeseg.export.keyframe_graphs): ONNX graph names and manifest roles
KEYFRAME_GRAPH_NAMES = {"edgeseg_pre", "edgeseg_post"}
KEYFRAME_ROLES = {"pre", "post"}
DYNAMIC = "has a dynamic dimension"
BY_DESIGN = {  # a warning's ``why`` on a keyframe graph -> what it means there (information: nothing to do)
    DYNAMIC: "dynamic by design (edgeseg's keyframe graph takes any frame size; `export --tensorrt` builds its engine "
             "with an optimisation profile for frames 16x16 to 3840x2160); nothing to do",
    "INT64 data computed from the inputs": "INT64 as ONNX defines them (ArgMax's class ids, cast to FLOAT at once, and "
                                           "the frame size Resize takes); nothing to do",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="BUNDLE|FILE.onnx", help="a bundle folder (every graph TensorRT may get) or one ONNX file")
    p.add_argument("--tensorrt", action="append", choices=versions(), metavar="VERSION",
                   help=f"TensorRT version to check against, repeatable: {', '.join(versions())} "
                        "(10.3: JetPack 6; default: all)")
    p.add_argument("--warnings", action="store_true", help="also print what TensorRT accepts with restrictions, and notes "
                   "on edgeseg's own keyframe pre/post graphs (dynamic by design)")


def keyframe_files(target: str) -> set[str]:
    """File names of edgeseg's own keyframe pre/post graphs in ``target`` (a bundle folder, by their manifest role, or
    one ONNX file, by the graph name edgeseg gives them)."""
    path = Path(target)
    if path.is_dir():
        from edgeseg.bundle import load_bundle
        bundle = load_bundle(path)
        return {e.file for e in bundle.graphs.values() if e.role in KEYFRAME_ROLES}
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return set()
    return {path.name} if model.graph.name in KEYFRAME_GRAPH_NAMES and model.producer_name == "edgeseg" else set()


def by_design(finding: Any, own: set[str]) -> str | None:
    """What a warning on edgeseg's own keyframe graph means there (it applies to them by design), else None."""
    if finding.error or finding.graph not in own:
        return None
    return next((text for why, text in BY_DESIGN.items() if finding.why.startswith(why)), None)


def run(args: argparse.Namespace) -> int:
    lazy_import("onnx", "pip install onnx (or 'edgeseg[export]')")
    from edgeseg.export.tensorrt_check import check

    report = check(args.target, tuple(args.tensorrt) if args.tensorrt else None)
    candidates = any(not f.error and f.why.startswith(tuple(BY_DESIGN)) for found in report.values() for f in found)
    own = keyframe_files(args.target) if candidates else set()
    errors = warnings = notes = 0
    for version, findings in report.items():
        for f in findings:
            note = by_design(f, own)
            errors += f.error
            warnings += not f.error and note is None
            notes += note is not None
            if note is not None:
                if args.warnings:
                    print(f"TensorRT {version}: note: {f.graph}: {f.node}: {note}")
            elif f.error or args.warnings:
                print(f.line(version))
    verdict = "TensorRT would reject it" if errors else "TensorRT would accept it"
    hints = [] if args.warnings or not (warnings or notes) else ["--warnings lists them"]
    print(f"{args.target}: {errors} error(s), {warnings} warning(s)"
          + (f", {notes} note(s) on edgeseg's own keyframe graphs" if notes else "")
          + f" for TensorRT {', '.join(report)}: {verdict}" + "".join(f" ({h})" for h in hints))
    return 1 if errors else 0
