"""How many CPU threads each stage gets, per mode. Torch-free.

- **sync**: the stages of a frame run one after another, so each may use every core: the engine gets ONNX
  Runtime's default thread count (all cores), DIS up to 2 worker threads (backward and forward flow at once),
  the C kernels ``min(4, cores)``. Engine threads do not spin between calls: each ONNX Runtime session has its
  own pool, and a pool spinning after its call takes the cores from the next session's (backbone then refiner
  or fusion head) and from DIS. On the 2-core CPU the backbone ran 29 ms after a spinning refiner call
  instead of 16 ms, and without spinning evs06 went from 55 to 93 FPS, grfp from 19 to 33, evs14 +19%
  (``benchmarks/spinning.py``).
- **live** (``Pipeline(overlap=True)``): a keyframe runs in the background while the following frames are
  propagated. One core is kept for the propagation (gray + DIS + warp): the engine gets the others (at least
  one) and does not spin, so its idle threads do not take the propagation's core between its own steps; the
  C kernels get one thread on machines of two cores or fewer. ``benchmarks/pipeline.py --overlap`` measures
  it against live mode with the sync budget (``--sync-budget``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadBudget:
    engine: int | None  # ONNX Runtime intra-op threads; None: its default (all cores)
    engine_spinning: bool  # ONNX Runtime's intra-op threads spin between calls
    flow: int  # DIS worker threads
    kernels: int  # C kernel threads


def thread_budget(live: bool, cores: int | None = None) -> ThreadBudget:
    """The budget for sync (``live=False``) or live mode on ``cores`` cores (default: this machine's)."""
    cores = max(1, cores or os.cpu_count() or 1)
    if not live:
        return ThreadBudget(engine=None, engine_spinning=False, flow=2, kernels=min(4, cores))
    return ThreadBudget(engine=max(1, cores - 1), engine_spinning=False, flow=2, kernels=1 if cores <= 2 else min(4, cores - 1))
