"""Child scenario 1: the engine floor, ``backtest_tasks`` without Dagster, cold then warm."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, compile_count, memory_mb
from benchmarks.scenarios.common import Spec, close_worker_pools, part_tasks
from trading_runtime.layout import CURVE_FILE


def child_floor(spec: Spec) -> dict[str, Any]:
    """The engine port alone: backtest_tasks cold (fresh process) then warm (same pool)."""
    from trading_runtime.config import example_config_path, load_config

    config = load_config(example_config_path("hftbacktest"))
    parts_dir, work = Path(spec["parts_dir"]), Path(spec["work"])
    runs = []
    coverage: list[float] = []
    for label in ("cold", "warm"):
        out = work / f"floor-{label}"
        tasks = part_tasks(parts_dir, out)
        runs.append(_timed_backtests(config, tasks, spec, label))
        if label == "warm":
            coverage = [_coverage(out / t.partition, t.part_path) for t in tasks]
        keep = spec.get("keep_sample")
        if keep and label == "cold" and not Path(keep).exists():
            shutil.copytree(out / tasks[0].partition, keep)
        shutil.rmtree(out, ignore_errors=True)
    close_worker_pools()
    return {"runs": runs, "coverage": coverage, "memory": memory_mb()}


def _timed_backtests(config: Any, tasks: list[Any], spec: Spec, label: str) -> dict[str, Any]:
    """One timed ``backtest_tasks`` call over all tasks: its record for the report."""
    from trading_runtime.backtest.fan_out import backtest_tasks
    from trading_runtime.results import BacktestResult

    started = time.perf_counter()
    # The engine port alone: no chart (drawing it is the runtime's cost, in the backfill).
    outcomes = backtest_tasks(
        config, tasks, timeout_s=spec["timeout_s"], workers=spec["workers"], chart=False
    )
    elapsed = time.perf_counter() - started
    failed = {k: str(v) for k, v in outcomes.items() if isinstance(v, Exception)}
    if failed:
        raise BenchmarkError(f"floor backtests failed: {failed}")
    results = [v for v in outcomes.values() if isinstance(v, BacktestResult)]
    walls = [r.startup_s + r.wall_time_s for r in results]  # the worker's whole task
    return {
        "label": label,
        "seconds": elapsed,
        "walls": walls,
        "compiles": compile_count(walls),
        "records": [r.metrics.get("records") for r in results],
        "trades": [r.metrics.get("trades") for r in results],
    }


def _coverage(result_dir: Path, part: Path) -> float:
    """Share of the part's time span the backtest got through (last curve timestamp)."""
    import numpy as np
    import pyarrow.parquet as pq

    timestamps = pq.read_table(result_dir / CURVE_FILE, columns=["timestamp"])["timestamp"]
    with np.load(part) as archive:
        local = archive["data"]["local_ts"]
    first, last = int(local.min()), int(local.max())
    if len(timestamps) == 0 or last <= first:
        return 0.0
    return min(1.0, (int(timestamps[-1].as_py()) - first) / (last - first))
