"""Warm worker processes that run backtests and can be killed (the parent's side; the worker's
side is ``worker``).

Engines run in worker processes because a timeout cannot interrupt numba code from inside the
same process; workers stay warm across partitions so numba compiles once per worker. A task past
its clocks is ended by the kernel inside the worker (``worker``); pebble's own timeout only backs
that up.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pebble import ProcessExpired, ProcessPool

from trading_runtime.backtest.memory import worker_memory_limit_mb
from trading_runtime.backtest.spawn import worker_context
from trading_runtime.config import BacktestConfig
from trading_runtime.data.part_info import PartInfo, PartValidationError
from trading_runtime.layout import DEFAULT_STARTUP_TIMEOUT_S, DEFAULT_TIMEOUT_S

__all__ = [
    "EnginePool",
    "WorkerPool",
    "backtest_args",
    "backtest_deadline",
    "close_shared_pools",
    "gather_validations",
    "killed_by_alarm",
    "shared_pool",
    "wait_result",
]

# pebble's own timeout only backs the kernel's up (a worker stuck outside both clocks).
_BACKSTOP_S = 60.0


@dataclass(frozen=True)
class InWorker:
    """A function of ``worker``, named here and imported only in the worker process: the
    parent (a run process, the code location) never loads the engine, numba or polars, which
    added about half a second to every run process's start. Picklable by value."""

    name: str

    def __call__(self, *args: Any) -> Any:
        from trading_runtime.backtest import worker

        return getattr(worker, self.name)(*args)


_INIT = InWorker("init_worker")
_BACKTEST = InWorker("backtest_in_worker")
_VALIDATE = InWorker("validate_in_worker")


def killed_by_alarm(exc: BaseException) -> bool:
    return isinstance(exc, ProcessExpired) and exc.exitcode == -signal.SIGALRM


def backtest_args(
    config: BacktestConfig,
    part_path: Path,
    out_dir: Path,
    timeout_s: float,
    startup_timeout_s: float,
    warmup_paths: Sequence[Path],
    chart: bool,
) -> tuple[Any, ...]:
    """``worker.backtest_in_worker``'s arguments: plain values, the same for a local worker and
    the engine service's (whose working directory is the run's: ``service_identity``)."""
    return (
        config.model_dump_json(),
        str(part_path),
        str(out_dir),
        timeout_s,
        startup_timeout_s,
        [str(path) for path in warmup_paths],
        chart,
    )


def backtest_deadline(args: tuple[Any, ...]) -> float:
    """The backstop for ``backtest_args``: both clocks and a margin."""
    return float(args[3] + args[4] + _BACKSTOP_S)


def wait_result(future: Future[Any]) -> Any:
    """``future.result()``, waiting in steps of a second: a signal (Ctrl-C, a run stopped from
    the UI) that the kernel hands to another thread is only handled when the main thread runs,
    and a wait without a timeout would not let it until the task ends."""
    while not wait([future], timeout=1.0).done:
        pass
    return future.result()


def gather_validations(
    part_paths: Sequence[Path], futures: Sequence[Future[PartInfo]]
) -> list[PartInfo | PartValidationError]:
    """Each validation's PartInfo, or its error naming the part."""
    outcomes: list[PartInfo | PartValidationError] = []
    for path, future in zip(part_paths, futures, strict=True):
        try:
            outcomes.append(wait_result(future))
        except PartValidationError as exc:
            outcomes.append(exc)
        except (ProcessExpired, FutureTimeoutError) as exc:
            outcomes.append(PartValidationError(f"part {path}: validation failed ({exc!r})"))
    return outcomes


class EnginePool(Protocol):
    """What runs use of a pool: this module's ``WorkerPool``, or the engine service's."""

    workers: int

    def submit(
        self,
        config: BacktestConfig,
        part_path: Path,
        out_dir: Path,
        *,
        timeout_s: float = ...,
        startup_timeout_s: float = ...,
        warmup_paths: Sequence[Path] = ...,
        chart: bool = ...,
    ) -> Future[tuple[dict[str, Any], float, float]]: ...

    def validate(
        self, part_paths: Sequence[Path], *, timeout_s: float = ...
    ) -> list[PartInfo | PartValidationError]: ...


class WorkerPool:
    """Warm worker processes; a task past its timeout is killed with its worker."""

    def __init__(self, workers: int, memory_mb: int | None = None) -> None:
        """``memory_mb``: each worker's memory limit (0: none; None: ``memory``'s setting or
        default for this many workers)."""
        self.workers = max(1, workers)
        self.memory_mb = worker_memory_limit_mb(self.workers) if memory_mb is None else memory_mb
        # spawn: the parent (Dagster) runs threads, which fork would copy in a broken state;
        # and never the caller's __main__ again (``spawn.worker_context``).
        self._pool = ProcessPool(
            max_workers=self.workers,
            context=worker_context(),
            initializer=_INIT,
            initargs=(os.getpid(), self.memory_mb),
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

    def schedule(self, function: Any, args: tuple[Any, ...], timeout: float) -> Future[Any]:
        """``function(*args)`` in a worker; past ``timeout`` s its worker is killed."""
        future: Future[Any] = self._pool.schedule(function, args=args, timeout=timeout)
        return future

    def submit(
        self,
        config: BacktestConfig,
        part_path: Path,
        out_dir: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        warmup_paths: Sequence[Path] = (),
        chart: bool = True,
    ) -> Future[tuple[dict[str, Any], float, float]]:
        """A backtest in a worker: its ``result.json`` document, the backtest's wall time and
        the start-up's (validation, compilation) before it. ``warmup_paths`` are fed to the
        engine before ``part_path``, in order."""
        args = backtest_args(
            config, part_path, out_dir, timeout_s, startup_timeout_s, warmup_paths, chart
        )
        return self.schedule(_BACKTEST, args, backtest_deadline(args))

    def validate(
        self, part_paths: Sequence[Path], *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> list[PartInfo | PartValidationError]:
        """Validate parts on the workers, in parallel; each is a PartInfo or its error."""
        futures = [self.schedule(_VALIDATE, (str(p),), timeout_s) for p in part_paths]
        return gather_validations(part_paths, futures)

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


@atexit.register
def close_shared_pools() -> None:
    """Stop every shared pool's workers (at exit, or to measure a cold start)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
