"""Warm worker processes that run backtests and can be killed.

Engines run in worker processes because a timeout cannot interrupt numba code from inside the
same process; workers stay warm across partitions so numba compiles once per worker.

Two clocks bound a task, both enforced by the kernel inside the worker (``SIGALRM`` with its
default action ends the process even while numba holds the GIL):

* the start-up limit covers reading and validating the part and the adapter's preparation
  (hftbacktest: numba compiles the strategy for the engine's types, once per worker and config);
* the backtest timeout starts only then, so a loaded machine or a cold worker never eats into it.

A worker dies with its parent (``PR_SET_PDEATHSIG``), so a killed run leaves no engine running.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from hftbacktest import Recorder
from pebble import ProcessExpired, ProcessPool

from trading_runtime.adapters import get_adapter
from trading_runtime.charts import part_chart_png
from trading_runtime.config import BacktestConfig, parse_config
from trading_runtime.data.validate import (
    PartInfo,
    PartValidationError,
    check_part_fits_config,
    validate_part,
)
from trading_runtime.execution import execute_backtest
from trading_runtime.layout import DEFAULT_STARTUP_TIMEOUT_S, DEFAULT_TIMEOUT_S
from trading_runtime.metrics import compute_metrics, curve_from_record
from trading_runtime.spawn import worker_context
from trading_runtime.warmup import check_warmup_fits_config

__all__ = [
    "ENGINE_STARTED_SUFFIX",
    "WorkerPool",
    "close_shared_pools",
    "engine_started_marker",
    "killed_by_alarm",
    "pool_for",
    "shared_pool",
]

# The worker creates this file beside the task's output directory when the backtest clock starts:
# a worker killed by SIGALRM without it ran out of start-up time, with it out of backtest time.
ENGINE_STARTED_SUFFIX = ".engine-started"
# pebble's own timeout only backs the kernel's up (a worker stuck outside both clocks).
_BACKSTOP_S = 60.0
_PR_SET_PDEATHSIG = 1

# Configs (by hash) this worker has already prepared (compiled their strategy).
_prepared: set[str] = set()
_post_processing_warm = False


def engine_started_marker(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(f".{out_dir.name}{ENGINE_STARTED_SUFFIX}")


def killed_by_alarm(exc: BaseException) -> bool:
    return isinstance(exc, ProcessExpired) and exc.exitcode == -signal.SIGALRM


def _init_worker(parent_pid: int) -> None:
    """Runs first in every worker: die with the parent, and let SIGALRM end the process."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """The kernel ends this process after ``seconds`` of wall time unless the block is done."""
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _warm_up_post_processing() -> None:
    """Curve, metrics, parquet and chart once on a synthetic record: their libraries (polars,
    pandas via pyarrow, matplotlib) import lazily, which takes seconds on a cold worker, and the
    chart's figure is made once per process; not on the backtest's clock."""
    global _post_processing_warm
    if _post_processing_warm:
        return
    record = np.zeros(64, Recorder(1, 1).recorder.records.dtype)
    record["timestamp"] = np.arange(64) * 1_000_000_000
    record["price"] = 100.0
    table = curve_from_record(record, 1.0)
    compute_metrics(record, 1.0, 1.0, (0, 63_000_000_000))
    pq.write_table(table, io.BytesIO())
    table.to_pandas()
    part_chart_png(table, "warm-up")
    _post_processing_warm = True


def _prepare(config: BacktestConfig, part: PartInfo) -> None:
    """The adapter's preparation before the clock (hftbacktest: compile the numba strategy),
    once per worker and config. A strategy that does not compile fails here, clearly."""
    _warm_up_post_processing()
    key = config.config_hash()
    if key in _prepared:
        return
    get_adapter(config.adapter).prepare(config, part)
    _prepared.add(key)


def _backtest_task(
    config_json: str,
    part_path: str,
    out_dir: str,
    timeout_s: float,
    startup_timeout_s: float,
    warmup_paths: Sequence[str] = (),
) -> tuple[dict[str, Any], float, float]:
    """``result.json``'s document, the backtest's wall time and the start-up's before it."""
    task_started = time.perf_counter()
    with _alarm(startup_timeout_s):
        config = parse_config(json.loads(config_json), "<worker>")
        # hftbacktest waits forever on a file it cannot read: validate before it opens the part.
        # Validating here, not in the parent, spreads the decoding and hashing over the workers.
        part = validate_part(Path(part_path))
        warmup = [validate_part(Path(path)) for path in warmup_paths]
        if warmup:
            check_warmup_fits_config(config, warmup, part)
        else:
            check_part_fits_config(config, part)  # the ROI covers its prices, it can be recorded
        _prepare(config, part)
    engine_started_marker(Path(out_dir)).touch()
    started = time.perf_counter()
    with _alarm(timeout_s):
        document = execute_backtest(config, part, Path(out_dir), warmup)
    return document, time.perf_counter() - started, started - task_started


def _validate_task(part_path: str) -> PartInfo:
    return validate_part(Path(part_path))


class WorkerPool:
    """Warm worker processes; a task past its timeout is killed with its worker."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        # spawn: the parent (Dagster) runs threads, which fork would copy in a broken state;
        # and never the caller's __main__ again (``spawn.worker_context``).
        self._pool = ProcessPool(
            max_workers=self.workers,
            context=worker_context(),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        # A worker's parent-death signal fires when the *thread* that started it ends. pebble
        # starts the first workers in the thread that schedules first (later ones in its own
        # manager thread): start them in a thread that lives as long as the pool.
        self._closed = threading.Event()
        started = threading.Event()
        threading.Thread(
            target=self._start_and_hold, args=(started,), name="worker-pool-owner", daemon=True
        ).start()
        started.wait()

    def _start_and_hold(self, started: threading.Event) -> None:
        try:
            self._pool.schedule(os.getpid)  # starts the pool and its workers in this thread
        finally:
            started.set()
        self._closed.wait()

    def submit(
        self,
        config: BacktestConfig,
        part_path: Path,
        out_dir: Path,
        timeout: float,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S,
        warmup_paths: Sequence[Path] = (),
    ) -> Future[tuple[dict[str, Any], float, float]]:
        """A backtest in a worker: its ``result.json`` document, the backtest's wall time and
        the start-up's (validation, compilation) before it. ``warmup_paths`` are fed to the
        engine before ``part_path``, in order."""
        future: Future[tuple[dict[str, Any], float, float]] = self._pool.schedule(
            _backtest_task,
            args=(
                config.model_dump_json(),
                str(part_path),
                str(out_dir),
                timeout,
                startup_timeout,
                [str(path) for path in warmup_paths],
            ),
            timeout=startup_timeout + timeout + _BACKSTOP_S,
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
        self._closed.set()


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
