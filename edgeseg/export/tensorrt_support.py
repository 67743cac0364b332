"""The TensorRT ONNX-parser support table (``data/tensorrt_onnx_support.json``, with its source and date).

Plain JSON reading, so that ``edgeseg check --help`` lists the versions without importing onnx.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from edgeseg.errors import UsageError

SUPPORT_TABLE = Path(__file__).with_name("data") / "tensorrt_onnx_support.json"


@lru_cache(maxsize=1)
def support_table() -> dict[str, Any]:
    return json.loads(SUPPORT_TABLE.read_text())


def versions() -> tuple[str, ...]:
    """The TensorRT versions the table describes (10.3: JetPack 6; 10.13: desktop TensorRT 10; 11)."""
    return tuple(support_table()["versions"])


def supported_ops(version: str) -> set[str]:
    """The ONNX operators TensorRT ``version``'s parser imports."""
    table = support_table()
    if version not in table["versions"]:
        raise UsageError(f"--tensorrt {version}: choose one of {', '.join(versions())}")
    ops = {name for name, row in table["operators"].items() if row["supported"]}
    return ops | set(table["versions"][version]["adds"])
