"""Warm worker processes that run backtests and can be killed.

Engines run in worker processes because a timeout cannot interrupt numba code from inside the
same process; workers stay warm across partitions so numba compiles once per worker.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from typing import Any

from pebble import ProcessExpired, ProcessPool

from trading_runtime.config import BacktestConfig, parse_config
from trading_runtime.data.validate import PartInfo, PartValidationError, validate_part
from trading_runtime.execution import execute_backtest
from trading_runtime.layout import DEFAULT_TIMEOUT_S
from trading_runtime.spawn import worker_context

__all__ = ["WorkerPool", "close_shared_pools", "pool_for", "shared_pool"]


def _backtest_task(config_json: str, part_path: str, out_dir: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    config = parse_config(json.loads(config_json), "<worker>")
    # hftbacktest waits forever on a file it cannot read: validate before it opens the part.
    # Validating here, not in the parent, spreads the decoding and hashing over the workers.
    part = validate_part(Path(part_path))
    document = execute_backtest(config, part, Path(out_dir))
    return document, time.perf_counter() - started


def _validate_task(part_path: str) -> PartInfo:
    return validate_part(Path(part_path))


class WorkerPool:
    """Warm worker processes; a task past its timeout is killed with its worker."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        # spawn: the parent (Dagster) runs threads, which fork would copy in a broken state.
        self._pool = ProcessPool(max_workers=self.workers, context=worker_context())

    def submit(
        self, config: BacktestConfig, part_path: Path, out_dir: Path, timeout: float
    ) -> Future[tuple[dict[str, Any], float]]:
        """A backtest in a worker: its ``result.json`` document and its wall time."""
        future: Future[tuple[dict[str, Any], float]] = self._pool.schedule(
            _backtest_task,
            args=(config.model_dump_json(), str(part_path), str(out_dir)),
            timeout=timeout,
        )
        return future

    def validate(
        self, part_paths: Sequence[Path], timeout: float = DEFAULT_TIMEOUT_S
    ) -> list[PartInfo | PartValidationError]:
        """Validate parts on the workers, in parallel; each is a PartInfo or its error."""
        futures = [
            self._pool.schedule(_validate_task, args=(str(p),), timeout=timeout) for p in part_paths
        ]
        outcomes: list[PartInfo | PartValidationError] = []
        for path, future in zip(part_paths, futures, strict=True):
            try:
                outcomes.append(future.result())
            except PartValidationError as exc:
                outcomes.append(exc)
            except (ProcessExpired, FutureTimeoutError) as exc:
                outcomes.append(PartValidationError(f"part {path}: validation failed ({exc!r})"))
        return outcomes

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)


_pools: dict[int, WorkerPool] = {}
_pools_lock = threading.Lock()


def shared_pool(workers: int | None = None) -> WorkerPool:
    """One warm pool per process and size, reused by every run in the process.

    numba compiles once per worker process (~7 s), so a run of one part uses a pool of one: the
    next one-part run in the same process then lands on the same, already compiled worker.
    """
    size = workers or os.cpu_count() or 1
    with _pools_lock:
        if size not in _pools:
            _pools[size] = WorkerPool(size)
        return _pools[size]


def pool_for(tasks: int, workers: int | None = None) -> WorkerPool:
    """The shared pool for a batch: ``workers`` (default: cores), never more than the tasks."""
    return shared_pool(min(workers or os.cpu_count() or 1, max(1, tasks)))


@atexit.register
def close_shared_pools() -> None:
    """Stop every shared pool's workers (at exit, or to measure a cold start)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
