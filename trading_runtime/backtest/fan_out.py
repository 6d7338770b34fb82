"""The fan-out: many local parts through the worker pool, one outcome per part.

Each task ends as a result or an exception that names its part; one failure never stops the
others. Output stays in each task's local directory; ``publish`` stores it.
"""

from __future__ import annotations

import shutil
import signal
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired

from trading_runtime.adapters import EngineError, EngineStartupError, EngineTimeoutError
from trading_runtime.backtest.engine_pools import pool_for
from trading_runtime.backtest.pool import EnginePool, killed_by_alarm, wait_result
from trading_runtime.backtest.private_inputs import private_inputs_dir
from trading_runtime.config import BacktestConfig
from trading_runtime.data.files import regular_file_problem
from trading_runtime.data.part_info import PartValidationError
from trading_runtime.layout import (
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    engine_started_marker,
    part_key,
)
from trading_runtime.results import BacktestResult

__all__ = [
    "BacktestTask",
    "Outcome",
    "backtest_part",
    "backtest_tasks",
    "prepare_out_dir",
    "refuse_duplicate_keys",
]

Outcome = BacktestResult | Exception


@dataclass(frozen=True)
class BacktestTask:
    partition: str
    part_path: Path
    out_dir: Path
    # Local warm-up parts fed to the engine before ``part_path``, in order (config ``warmup``).
    warmup_paths: tuple[Path, ...] = ()


def refuse_duplicate_keys(keys: Sequence[str]) -> None:
    """Two parts with one name would share one result directory."""
    duplicates = sorted(key for key, count in Counter(keys).items() if count > 1)
    if duplicates:
        raise ValueError(f"parts with the same name (partition key): {', '.join(duplicates)}")


def prepare_out_dir(out_dir: Path) -> Path:
    """A fresh, empty directory: engines append to files they find (trading-platform's events)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if any(out_dir.iterdir()):
            raise EngineError(
                f"output directory {out_dir} is not empty; each run needs a fresh one"
            )
    else:
        out_dir.mkdir(parents=True)
    return out_dir


def _precheck(config: BacktestConfig, task: BacktestTask) -> Path:
    """The task's fresh output directory; a missing file is reported without using a worker
    (the worker validates the part itself before the engine opens it)."""
    for path in (*task.warmup_paths, task.part_path):
        problem = regular_file_problem(path)  # by type, never opened: a FIFO would block
        if problem is not None:
            raise PartValidationError(f"part {path}: {problem}")
    snapshot = config.engine.initial_snapshot
    problem = None if snapshot is None else regular_file_problem(snapshot)
    if problem is not None:
        raise PartValidationError(f"engine.initial_snapshot {snapshot}: {problem}")
    return prepare_out_dir(task.out_dir)


# Likely causes of a worker's death by signal, for the message.
_SIGNAL_CAUSES = {
    "SIGKILL": "killed: out of memory? (the kernel's OOM killer sends SIGKILL; see"
    " TRADING_RUNTIME_WORKER_MEMORY_MB)",
    "SIGSEGV": "segmentation fault: a crash in compiled code (the strategy or the engine)",
    "SIGBUS": "bus error: a memory-mapped file changed or shrank?",
    "SIGABRT": "aborted: a library gave up (out of memory in native code?)",
    "SIGFPE": "arithmetic error in compiled code",
    "SIGILL": "illegal instruction: code compiled for another CPU?",
    "SIGTERM": "terminated by another process",
    "SIGINT": "interrupted",
}


def death(exitcode: int | None) -> str:
    """How a worker process ended, for a message: the signal's name and a likely cause, or the
    exit code."""
    if exitcode is None or exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"
    cause = _SIGNAL_CAUSES.get(name)
    return f"signal {name}, exit code {exitcode}" + (f": {cause}" if cause else "")


def _failure(
    partition: str, exc: BaseException, timeout_s: float, startup_timeout_s: float, started: bool
) -> Exception:
    if killed_by_alarm(exc) and not started:
        return EngineStartupError(
            f"part {partition}: preparing the backtest (reading the part, compiling the strategy)"
            f" exceeded the {startup_timeout_s:g} s start-up limit and was stopped (raise"
            " TRADING_RUNTIME_STARTUP_TIMEOUT_S or check that the strategy compiles)"
        )
    if killed_by_alarm(exc) or isinstance(exc, FutureTimeoutError):
        return EngineTimeoutError(
            f"part {partition}: backtest exceeded the {timeout_s:g} s timeout and was"
            " stopped (raise the timeout or check the strategy loop ends at end_ts)"
        )
    if isinstance(exc, ProcessExpired):
        return EngineError(f"part {partition}: the engine worker died ({death(exc.exitcode)})")
    if isinstance(exc, EngineError | PartValidationError):
        return exc
    return EngineError(f"part {partition}: {type(exc).__name__}: {exc}")


def backtest_tasks(
    config: BacktestConfig,
    tasks: Sequence[BacktestTask],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    pool: EnginePool | None = None,
    workers: int | None = None,
    chart: bool = True,
) -> dict[str, Outcome]:
    """Run many parts in parallel. Without a pool, the shared pool of
    ``min(workers or cores, len(tasks))`` workers runs them (``engine_pools.pool_for``).
    ``timeout_s`` bounds each engine run; ``startup_timeout_s`` what comes before it;
    ``chart=False`` leaves the charts out (the benchmark's engine floor)."""
    refuse_duplicate_keys([task.partition for task in tasks])
    outcomes: dict[str, Outcome] = {}
    ready = []
    for task in tasks:
        try:
            ready.append((task, _precheck(config, task)))
        except (PartValidationError, EngineError) as exc:
            outcomes[task.partition] = exc
    if not ready:
        return outcomes  # no worker starts for a batch with nothing to run
    pool = pool or pool_for(len(tasks), workers)
    pending = [
        (
            task,
            out_dir,
            pool.submit(
                config,
                task.part_path,
                out_dir,
                timeout_s=timeout_s,
                startup_timeout_s=startup_timeout_s,
                warmup_paths=task.warmup_paths,
                chart=chart,
            ),
        )
        for task, out_dir in ready
    ]
    for task, out_dir, future in pending:
        marker = engine_started_marker(out_dir)
        try:
            document, wall_time_s, startup_s = wait_result(future)
        except Exception as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            outcomes[task.partition] = _failure(
                task.partition, exc, timeout_s, startup_timeout_s, marker.exists()
            )
            continue
        finally:
            marker.unlink(missing_ok=True)
            # The worker removes its private input copies; not when it was killed.
            shutil.rmtree(private_inputs_dir(out_dir), ignore_errors=True)
        outcomes[task.partition] = BacktestResult(
            partition=task.partition,
            directory=out_dir,
            metrics=document["metrics"],
            provenance=document["provenance"],
            wall_time_s=wall_time_s,
            startup_s=startup_s,
        )
    return outcomes


def backtest_part(
    config: BacktestConfig,
    part_path: Path,
    out_dir: Path,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pool: EnginePool | None = None,
) -> BacktestResult:
    """One part: a result, or the part's error raised."""
    partition = part_key(part_path)
    task = BacktestTask(partition, Path(part_path), Path(out_dir))
    outcome = backtest_tasks(config, [task], timeout_s=timeout_s, pool=pool)[partition]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
