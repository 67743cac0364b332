"""Strict JSON out: NaN and infinities (not JSON) become null, so every file edgeseg writes parses anywhere."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Indented strict JSON (``allow_nan=False`` after ``finite``)."""
    return json.dumps(finite(value), indent=2, allow_nan=False)
