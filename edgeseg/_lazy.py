"""Import optional heavy dependencies only when a feature needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgeseg.errors import MissingDependencyError


def lazy_import(name: str, hint: str) -> ModuleType:
    """Import module ``name`` or raise MissingDependencyError telling how to install it.

    ``hint`` names what to install, e.g. ``"pip install 'edgeseg[export]'"``.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(f"{name} is required for this command but is not importable ({exc}); install it: {hint}") from None
