"""Kept path: ``from edgeseg.runtime.engine import open_engine, best_backend`` (checks and users rely on it).

The backend table lives in ``edgeseg.runtime.engines.registry``.
"""

from edgeseg.runtime.engines.protocol import Engine
from edgeseg.runtime.engines.registry import BACKEND_TABLE, BACKENDS, best_backend, open_engine

__all__ = ["BACKENDS", "BACKEND_TABLE", "Engine", "best_backend", "open_engine"]
