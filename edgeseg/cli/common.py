"""What the verbs share: argument types and output checks. Light imports only, so `edgeseg VERB --help`
loads none of torch, cv2 or onnxruntime."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edgeseg.errors import UsageError


def signal_exit_code(signum: int) -> int:
    """A verb stopped by a signal exits 128 + its number: 130 for SIGINT (Ctrl-C), 143 for SIGTERM, as a shell reports."""
    return 128 + int(signum)


def any_size(text: str) -> tuple[int, int]:
    """An argparse type for ``HxW`` of any positive size (a foreign model decides what it takes)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW, e.g. 480x640") from None
    if min(h, w) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be positive")
    return h, w


def parse_size(text: str) -> tuple[int, int]:
    """An argparse type for ``HxW`` network sizes: both multiples of 32 (the backbones' stride), at least 64."""
    h, w = any_size(text)
    if min(h, w) < 64 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"{text!r}: height and width must be multiples of 32, at least 64 (e.g. 480x640)")
    return h, w


def three_floats(flag: str, text: str | None) -> tuple[float, float, float] | None:
    """``R,G,B`` -> three floats (--mean, --std); a one-line UsageError naming the flag otherwise."""
    if text is None:
        return None
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: not numbers; give three, R,G,B (e.g. 0.485,0.456,0.406)") from None
    if len(values) != 3:
        raise UsageError(f"{flag} {text!r} has {len(values)} value(s); give three, R,G,B")
    return values  # type: ignore[return-value]


def positive_int(text: str) -> int:
    """An argparse type for counts that must be at least 1."""
    return _bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type for counts that may be 0."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
    return value


def check_outputs(*paths: str | None) -> None:
    """Refuse, before any work, output files whose folder is missing or not writable (a device, FIFO or
    /dev/stdout is written through: its folder does not matter)."""
    from edgeseg._fs import check_folder, is_special
    for p in paths:
        if p is None or is_special(Path(p)):
            continue
        check_folder(Path(p).resolve())  # the same check (and message) as when the file is written
        parent = Path(p).resolve().parent
        if not os.access(parent, os.W_OK):
            raise UsageError(f"cannot write {p}: folder {parent} is not writable")


def profile_names(text: str) -> list[str]:
    """``all`` or a comma list of operating points."""
    from edgeseg.profiles.schema import builtin_names
    names = builtin_names() if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError("--profiles is empty; pass 'all' or a comma list (edgeseg profiles lists them)")
    return names
