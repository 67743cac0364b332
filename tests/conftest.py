"""Shared test fixtures: the ../shared data location (tests that need it skip when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CAMVID = SHARED / "camvid"


@pytest.fixture
def camvid() -> Path:
    if not (CAMVID / "train").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (../shared/data is absent on this machine)")
    return CAMVID
