"""Run backtests: validate inputs, run the engine in a killable warm worker, summarize.

The per-partition entrypoint shared by the Dagster asset, the CLI and (later) cluster pods.
Engines run in worker processes because a timeout cannot interrupt numba code from inside the
same process; workers stay warm across partitions so numba compiles once per worker.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import multiprocessing
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pebble import ProcessExpired, ProcessPool
from upath import UPath

import trading_runtime
from trading_runtime.config import BacktestConfig, parse_config
from trading_runtime.data.validate import PartInfo, PartValidationError, sha256_file, validate_part
from trading_runtime.engines import EngineError, EngineTimeoutError, get_adapter
from trading_runtime.metrics import (
    PROVENANCE_COLUMNS,
    aggregate_table,
    compute_metrics,
    curve_from_record,
)

CURVE_FILE = "curve.parquet"
RESULT_FILE = "result.json"
DEFAULT_TIMEOUT_S = 900.0
RUNTIME_GIT_COMMIT_ENV = "TRADING_RUNTIME_GIT_COMMIT"


@dataclass(frozen=True)
class BacktestResult:
    """One part's result: files in ``directory`` plus what ``result.json`` holds.

    ``directory`` is a local ``Path`` right after a run, or a ``UPath`` (any filesystem) when the
    IO manager loads a stored result; the curve is read only on demand.
    """

    partition: str
    directory: Path | UPath
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    wall_time_s: float = field(default=0.0, compare=False)

    @property
    def content_hash(self) -> str:
        return str(self.provenance["content_hash"])

    def files(self) -> list[Path | UPath]:
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def local_directory(self) -> Path:
        """The run's local output directory (what gets published to storage)."""
        if not isinstance(self.directory, Path):
            raise TypeError(f"result {self.partition} is already stored at {self.directory}")
        return self.directory

    def read_curve(self) -> pa.Table:
        with (self.directory / CURVE_FILE).open("rb") as handle:
            return pq.read_table(handle)

    @classmethod
    def load(cls, directory: Path | UPath) -> BacktestResult:
        """A stored result from its directory (reads ``result.json`` only)."""
        document = json.loads((directory / RESULT_FILE).read_text())
        return cls(
            partition=directory.name,
            directory=directory,
            metrics=document["metrics"],
            provenance=document["provenance"],
        )


def strategy_source_hash(class_path: str) -> str:
    """sha256 of the strategy module's source, found without importing it."""
    module_name = class_path.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return "unresolved"
    return sha256_file(Path(spec.origin))


def content_hash(file_hashes: dict[str, str]) -> str:
    """Hash of the result's content: every file's name and sha256, in name order."""
    digest = hashlib.sha256()
    for name in sorted(file_hashes):
        digest.update(f"{name}\0{file_hashes[name]}\n".encode())
    return digest.hexdigest()


def _write_curve(record: np.ndarray, contract_size: float, path: Path) -> None:
    table = curve_from_record(record, contract_size)
    # Fixed writer options so the same table gives the same bytes.
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=True)


def execute_backtest(config: BacktestConfig, part: PartInfo, out_dir: Path) -> dict[str, Any]:
    """Engine + curve + metrics for one part, inside the current process. Writes ``out_dir``."""
    adapter = get_adapter(config.adapter)
    output = adapter.run_inline(config, part, out_dir)
    with np.load(output.stats_path) as archive:
        record = archive["0"]
    _write_curve(record, config.engine.contract_size, out_dir / CURVE_FILE)
    book_size = None
    if config.risk.notional_limits is not None:
        book_size = config.risk.notional_limits.max_gross_notional
    metrics = compute_metrics(
        record, config.engine.contract_size, book_size, (part.first_local_ts, part.last_local_ts)
    )
    file_hashes = {
        p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.name != RESULT_FILE
    }
    provenance = {
        "runtime_version": trading_runtime.__version__,
        # Set in the runtime image (build arg GIT_COMMIT); unset in a development checkout.
        "runtime_git_commit": os.environ.get(RUNTIME_GIT_COMMIT_ENV) or None,
        "engine": output.engine,
        "engine_version": output.engine_version,
        "framework_sha": output.framework_sha,
        "config_id": config.id,
        "config_hash": config.config_hash(),
        "strategy": config.strategy.class_path,
        "strategy_source_hash": strategy_source_hash(config.strategy.class_path),
        "part": part.name,
        "part_sha256": part.sha256,
        "n_events": part.n_events,
        "files": file_hashes,
        "content_hash": content_hash(file_hashes),
    }
    document = {"metrics": metrics, "provenance": provenance}
    (out_dir / RESULT_FILE).write_text(json.dumps(document, sort_keys=True, indent=1) + "\n")
    return document


def _worker_task(config_json: str, part_path: str, out_dir: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    config = parse_config(json.loads(config_json), "<worker>")
    # hftbacktest waits forever on a file it cannot read: validate before it opens the part.
    # Validating here, not in the parent, spreads the decoding and hashing over the workers.
    part = validate_part(Path(part_path))
    document = execute_backtest(config, part, Path(out_dir))
    return document, time.perf_counter() - started


def _validate_task(part_path: str) -> PartInfo:
    return validate_part(Path(part_path))


class EnginePool:
    """Warm worker processes; a task past its timeout is killed with its worker."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        # spawn: the parent (Dagster) runs threads, which fork would copy in a broken state.
        self._pool = ProcessPool(
            max_workers=self.workers, context=multiprocessing.get_context("spawn")
        )

    def submit(self, config: BacktestConfig, part_path: Path, out_dir: Path, timeout: float) -> Any:
        return self._pool.schedule(
            _worker_task,
            args=(config.model_dump_json(), str(part_path), str(out_dir)),
            timeout=timeout,
        )

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


_pools: dict[int, EnginePool] = {}
_pools_lock = threading.Lock()


def shared_pool(workers: int | None = None) -> EnginePool:
    """One warm pool per process and size, reused by every run in the process.

    numba compiles once per worker process (~7 s), so a run of one part uses a pool of one: the
    next one-part run in the same process then lands on the same, already compiled worker.
    """
    size = workers or os.cpu_count() or 1
    with _pools_lock:
        if size not in _pools:
            _pools[size] = EnginePool(size)
        return _pools[size]


@atexit.register
def _close_pools() -> None:
    for pool in _pools.values():
        pool.close()
    _pools.clear()


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


@dataclass(frozen=True)
class BacktestTask:
    partition: str
    part_path: Path
    out_dir: Path


def run_backtests(
    config: BacktestConfig,
    tasks: Sequence[BacktestTask],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pool: EnginePool | None = None,
    workers: int | None = None,
) -> dict[str, BacktestResult | Exception]:
    """Run many parts in parallel. Each task ends as a result or an exception that names its
    part; one failure never stops the others. Without a pool, the shared pool of
    ``min(workers or cores, len(tasks))`` workers runs them."""
    counts = Counter(task.partition for task in tasks)
    duplicates = sorted(key for key, count in counts.items() if count > 1)
    if duplicates:
        raise ValueError(f"parts with the same name (partition key): {', '.join(duplicates)}")
    if pool is None:
        pool = shared_pool(min(workers or os.cpu_count() or 1, max(1, len(tasks))))
    outcomes: dict[str, BacktestResult | Exception] = {}
    pending = []
    for task in tasks:
        try:
            # The worker validates the part before the engine opens it; a missing file is
            # reported here without using a worker.
            if not Path(task.part_path).is_file():
                raise PartValidationError(f"part {task.part_path}: file does not exist")
            snapshot = config.engine.initial_snapshot
            if snapshot is not None and not Path(snapshot).is_file():
                raise PartValidationError(
                    f"engine.initial_snapshot {snapshot}: file does not exist"
                )
            out_dir = prepare_out_dir(task.out_dir)
        except (PartValidationError, EngineError) as exc:
            outcomes[task.partition] = exc
            continue
        pending.append((task, out_dir, pool.submit(config, task.part_path, out_dir, timeout_s)))
    for task, out_dir, future in pending:
        try:
            document, wall_time_s = future.result()
        except FutureTimeoutError:
            shutil.rmtree(out_dir, ignore_errors=True)
            outcomes[task.partition] = EngineTimeoutError(
                f"part {task.partition}: backtest exceeded the {timeout_s:g} s timeout and was"
                " stopped (raise the timeout or check the strategy loop ends at end_ts)"
            )
            continue
        except ProcessExpired as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            outcomes[task.partition] = EngineError(
                f"part {task.partition}: the engine worker died (exit code {exc.exitcode})"
            )
            continue
        except Exception as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            outcomes[task.partition] = (
                exc
                if isinstance(exc, EngineError | PartValidationError)
                else (EngineError(f"part {task.partition}: {type(exc).__name__}: {exc}"))
            )
            continue
        outcomes[task.partition] = BacktestResult(
            partition=task.partition,
            directory=out_dir,
            metrics=document["metrics"],
            provenance=document["provenance"],
            wall_time_s=wall_time_s,
        )
    return outcomes


def run_backtest(
    config: BacktestConfig,
    part_path: Path,
    out_dir: Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pool: EnginePool | None = None,
) -> BacktestResult:
    """The port for one part: a result, or the part's error raised."""
    partition = Path(part_path).stem
    outcome = run_backtests(
        config, [BacktestTask(partition, Path(part_path), Path(out_dir))], timeout_s, pool
    )[partition]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def result_code_version(config: BacktestConfig) -> str:
    """What determines a result besides its part: runtime, engine (version or framework SHA),
    strategy source and config. Dagster marks results stale when this changes."""
    adapter = get_adapter(config.adapter)
    pieces = [
        f"runtime={trading_runtime.__version__}",
        f"engine={adapter.name}",
        f"engine_version={adapter.version()}",
        f"framework_sha={adapter.framework_sha()}",
        f"strategy={strategy_source_hash(config.strategy.class_path)}",
        f"config={config.config_hash()}",
    ]
    return hashlib.sha256("|".join(pieces).encode()).hexdigest()[:16]


def aggregate_results(results: Mapping[str, BacktestResult]) -> pa.Table:
    """The aggregate table (one row per part plus TOTAL) of stored or fresh results: what the
    ``aggregate_metrics`` asset and ``trading-runtime aggregate`` both write."""
    rows = [
        {
            "partition": key,
            **{name: result.provenance[name] for name in ("n_events", *PROVENANCE_COLUMNS)},
            **result.metrics,
        }
        for key, result in results.items()
    ]
    return aggregate_table(rows)


def mixed_provenance(table: pa.Table) -> list[str]:
    """Provenance columns on which an aggregate's parts disagree (config, engine, framework)."""
    columns = [name for name in PROVENANCE_COLUMNS if name != "content_hash"]
    total = table.slice(table.num_rows - 1).select(columns).to_pylist()[0]
    return [name for name in columns if total[name] == "mixed"]
