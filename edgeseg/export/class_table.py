"""``--classes camvid | cityscapes | FILE``: the class names, colours and ignored id of a model edgeseg did not build.

A FILE has one class a line, in class-id order: ``name`` or ``name R G B`` (0..255); blank lines and
``#`` comments are skipped. Classes without a colour get distinct generated ones.
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.bundle.manifest import Classes
from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE, CAMVID_PALETTE, CITYSCAPES_CLASSES, CITYSCAPES_IGNORE, CITYSCAPES_PALETTE
from edgeseg.errors import UsageError

NAMED = {
    "camvid": Classes(list(CAMVID_CLASSES), [list(c) for c in CAMVID_PALETTE], CAMVID_IGNORE),
    "cityscapes": Classes(list(CITYSCAPES_CLASSES), [list(c) for c in CITYSCAPES_PALETTE], CITYSCAPES_IGNORE),
}
MAX_CLASSES = 255  # labels are uint8 everywhere; 255 is left for "ignore"


def generated_colour(i: int) -> list[int]:
    """A colour for class ``i``, distinct from its neighbours (golden-angle hues at two brightnesses)."""
    import colorsys
    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65, 0.95 if i % 2 == 0 else 0.7)
    return [int(round(255 * v)) for v in (r, g, b)]


def read_classes(spec: str) -> Classes:
    """``camvid``, ``cityscapes`` or a class file; UsageError naming the file and line of a malformed entry."""
    if spec.lower() in NAMED:
        return NAMED[spec.lower()]
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"--classes {spec}: not camvid, cityscapes or a readable file (one class a line: 'name' or 'name R G B')")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--classes {spec}: cannot read it ({exc})") from None
    names: list[str] = []
    palette: list[list[int]] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        numeric = [p.lstrip("+-").isdigit() for p in parts]
        rgb: list[int] | None = None
        if len(parts) >= 4 and all(numeric[-3:]) and not any(numeric[:-3]):
            rgb = [int(v) for v in parts[-3:]]
            if not all(0 <= v <= 255 for v in rgb):
                raise UsageError(f"{path}:{number}: colour {' '.join(parts[-3:])} is out of range; write 'name R G B' with 0..255")
            parts = parts[:-3]
        elif any(numeric):
            raise UsageError(f"{path}:{number}: {text!r} is malformed; write 'name' or 'name R G B' (three values 0..255)")
        names.append(" ".join(parts))
        palette.append(rgb if rgb is not None else generated_colour(len(names) - 1))
    if not names:
        raise UsageError(f"--classes {path}: no classes in it (one class a line: 'name' or 'name R G B')")
    if len(names) > MAX_CLASSES:
        raise UsageError(f"--classes {path}: {len(names)} classes; edgeseg's label maps hold at most {MAX_CLASSES}")
    return Classes(names, palette, None)
