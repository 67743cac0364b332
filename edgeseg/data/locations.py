"""Where datasets are: a flag, then ``$EDGESEG_DATA``, then the sample data shipped with an installed package.

Nothing is resolved relative to edgeseg's install location or a source checkout, so a plain
``pip install`` behaves the same from any folder. ``$EDGESEG_DATA`` names a folder laid out like the
project's shared data: ``camvid/{train,trainannot,val,valannot,test,testannot}``, ``video/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeseg.errors import DatasetError

ENV = "EDGESEG_DATA"


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The data folder from ``explicit`` (a flag) or ``$EDGESEG_DATA``; None when neither is set."""
    text, origin = (str(explicit), "--data") if explicit else (os.environ.get(ENV), f"${ENV}")
    if not text:
        return None
    root = Path(text).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data folder {root} (from {origin}) does not exist; point {origin} at a folder holding camvid/")
    return root


def camvid(split: str, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """``<data>/camvid/<split>`` (e.g. ``val``, ``testannot``) when it exists, else None."""
    root = data_root(explicit)
    path = root / "camvid" / split if root is not None else None
    return path if path is not None and path.is_dir() else None


def describe() -> str:
    """Where CamVid is looked for, for error messages."""
    return f"${ENV}/camvid ({os.environ.get(ENV) or f'${ENV} is not set'})"
