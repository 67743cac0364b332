"""The videos of a batch on Ray Data: one row per VIDEO, mapped by a pool of ``VideoWorker`` actors.

Not ``ray.data.read_videos``: it yields frames as separate rows, split across actors and out of order, and
propagation needs a video's frames in order on one worker. Each actor loads the bundle's engines once and takes
one video at a time (``max_tasks_in_flight_per_actor=1``: a slow video never holds others queued behind it).

Without an address Ray starts on this machine (nothing to set up) and stops at the end; with one
(``ray://HOST:PORT``, ``auto``, or ``RAY_ADDRESS``) it joins that cluster, whose nodes need edgeseg and the bundle
at the same path, and a shared ``--out``. One CPU of the cluster is left out of the actors' share: actors on
every CPU can starve Ray's own read tasks (ray-project/ray#44687).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeseg.batching.inputs import Video, shown
from edgeseg.batching.worker import ROW_FIELDS, Settings, VideoWorker
from edgeseg.errors import EdgesegError, MissingDependencyError


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("edgeseg batch with --workers > 1 or --address needs Ray Data: "
                                     "pip install 'edgeseg[batch]'") from None
    return ray


def _token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or (Path.home() / ".ray" / "auth_token").is_file())


def cpus_per_worker(total: float, workers: int) -> float:
    """Each actor's CPU share: the cluster's CPUs less one, split evenly (at least a quarter CPU each)."""
    return max(0.25, (total - 1) / workers) if total > 1 else max(0.25, total / workers)


def run_on_ray(videos: list[Video], settings: Settings, workers: int, address: str | None,
               temp_dir: str | None = None) -> Iterator[dict[str, Any]]:
    """Result rows as videos finish (any order). Starts Ray here, or joins ``address``; stops what it started."""
    joining = bool(address or os.environ.get("RAY_ADDRESS"))
    if joining and not os.environ.get("RAY_AUTH_MODE") and _token_available():
        os.environ["RAY_AUTH_MODE"] = "token"  # the cluster's token authenticates this client (read when Ray loads)
    ray = import_ray()
    for name in ("ray", "ray.data"):  # edgeseg reports per video; Ray's own INFO lines are noise here
        logging.getLogger(name).setLevel(logging.ERROR)
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            kw["address"] = address
        if not joining:  # Ray on this machine only: loopback, with Ray's generated token
            kw.update(num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1")
            if temp_dir:
                kw["_temp_dir"] = temp_dir
        try:
            ray.init(**kw)
        except Exception as exc:  # noqa: BLE001 - Ray raises its own types (ConnectionError, AuthenticationError)
            where = f"the Ray cluster at {shown(address or os.environ.get('RAY_ADDRESS', ''))}" if joining else "Ray here"
            raise EdgesegError(f"cannot start or join {where}: {str(exc).strip().splitlines()[0]}"
                               + ("; a cluster with token authentication needs its token here (ray get-auth-token on "
                                  "the head; ~/.ray/auth_token or RAY_AUTH_TOKEN) and RAY_AUTH_MODE=token" if joining
                                  else "")) from None
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # edgeseg shows its own, per video
        ctx.print_on_execution_start = False
        cpus = cpus_per_worker(float(ray.cluster_resources().get("CPU", 1)), workers)
        settings = replace(settings, cpus=cpus)
        ds = ray.data.from_items([v.to_row() for v in videos], override_num_blocks=len(videos))
        ds = ds.map_batches(VideoWorker, fn_constructor_args=(settings,), batch_size=1, num_cpus=cpus,
                            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1))
        for item in ds.iter_rows():
            yield {k: item.get(k) for k in ROW_FIELDS}
    finally:
        if started:
            ray.shutdown()
