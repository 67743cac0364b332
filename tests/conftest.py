"""Shared test fixtures: the ../shared data location (tests that need it skip when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CAMVID = SHARED / "camvid"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny models: threads cost more than they give, and CI has 2 cores.
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@pytest.fixture
def camvid() -> Path:
    if not (CAMVID / "train").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID} (../shared/data is absent on this machine)")
    return CAMVID
