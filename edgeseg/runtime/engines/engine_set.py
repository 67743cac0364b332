"""``EngineSet``: the engines of one bundle, opened once, shared explicitly by every pipeline that runs them.

Whoever makes an EngineSet owns it and closes it; pipelines borrow engines from it and never close them. Several
streams of a Session (or the profiler's two pipelines of one point) hold one copy of each model this way,
whatever order they are closed in. Engines handed in already open (``given``) are used but never closed here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from edgeseg.bundle import Bundle
from edgeseg.runtime.engines.registry import Engine, close_engine, open_engine


class EngineSet:
    """Engines of ``bundle`` on ``backend``, keyed by graph key, opened on first use."""

    def __init__(self, bundle: Bundle, backend: str = "onnxrt", threads: int | None = None,
                 engine_cache: str | Path | None = None, spinning: bool = True, given: dict[str, Engine] | None = None):
        self.bundle, self.backend = bundle, backend
        self._open_args = (backend, threads, engine_cache, spinning)
        self._given = dict(given or {})
        self._opened: dict[str, Engine] = {}
        self._lock = threading.Lock()  # streams of a live session may switch from the control thread

    def open(self, key: str) -> Engine:
        """An engine for graph ``key`` that nobody else holds (a device chain's pre/post graphs); the caller closes it."""
        return open_engine(self.bundle, key, *self._open_args)

    def acquire(self, keys: Iterable[str]) -> dict[str, Engine]:
        """The engines for ``keys``, opening the missing ones; if one cannot be opened, the ones opened by this call
        are closed again and the error raised, so a failed switch leaves the set as it was."""
        with self._lock:
            fresh: dict[str, Engine] = {}
            try:
                for k in keys:
                    if k not in self._given and k not in self._opened and k not in fresh:
                        fresh[k] = self.open(k)
            except BaseException:
                for engine in fresh.values():
                    close_engine(engine)
                raise
            self._opened.update(fresh)
            return {k: self._given.get(k) or self._opened[k] for k in keys}

    def keep_only(self, keys: Iterable[str]) -> None:
        """Close the engines this set opened that are not among ``keys`` (no stream runs them any more)."""
        wanted = set(keys)
        with self._lock:
            for k in [k for k in self._opened if k not in wanted]:
                close_engine(self._opened.pop(k))

    def __contains__(self, key: str) -> bool:
        return key in self._given or key in self._opened

    def close(self) -> None:
        """Close every engine this set opened (the given ones stay open)."""
        self.keep_only(())
