"""Child scenario 2: single-run backfills of ``backtest_parts`` (+ the aggregate over N), on the
instance storage of the spec (``storage``: SQLite, or PostgreSQL on ``postgres_admin_url``)."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, compile_count, memory_mb
from benchmarks.scenarios.common import (
    Spec,
    close_worker_pools,
    failure_text,
    fresh_instance,
    materialization_walls,
    run_breakdown,
)
from benchmarks.scenarios.profiling import profile_call


def child_backfill(spec: Spec) -> dict[str, Any]:
    """Single-run backfill: cold (first in the process), warm (new instance, warm pool)."""
    if spec.get("profile_cold_only"):
        run = _backfill_once({**spec, "profile_this": True}, "profiled-cold", False)
        close_worker_pools()
        return {"runs": [run], "memory": memory_mb()}
    runs = [
        _backfill_once({**spec, "profile_this": False}, "cold", spec["aggregate"]),
        _backfill_once({**spec, "profile_this": False}, "warm", spec["aggregate"]),
    ]
    if spec.get("profile"):
        runs.append(_backfill_once({**spec, "profile_this": True}, "profiled", False))
    close_worker_pools()
    return {"runs": runs, "memory": memory_mb()}


def _backfill_once(spec: Spec, label: str, aggregate: bool) -> dict[str, Any]:
    """One backfill over a fresh instance and results directory (+ the aggregate job after)."""
    from trading_runtime.defs import build_definitions
    from trading_runtime.runs.instance import register_parts
    from trading_runtime.settings import RuntimeSettings

    work, keys = Path(spec["work"]), list(spec["keys"])
    # Unique per backfill: the children of a run share the work directory.
    name = f"{spec.get('storage', 'sqlite')}-{label}-{uuid.uuid4().hex[:8]}"
    home, results = work / f"home-{name}", work / f"results-{name}"
    instance = fresh_instance(home, spec.get("postgres_admin_url"))
    settings = RuntimeSettings(
        parts_dir=spec["parts_dir"],
        results=str(results),
        workers=spec["workers"],
        timeout_s=spec["timeout_s"],
    )
    started = time.perf_counter()
    defs = build_definitions(settings)
    jobs = (defs.resolve_job_def("validate_parts"), defs.resolve_job_def("backtest_parts"))
    defs_s = time.perf_counter() - started
    started = time.perf_counter()
    register_parts(instance, keys)
    register_s = time.perf_counter() - started
    elapsed, details = _timed_backfill(jobs, instance, keys, label, bool(spec.get("profile_this")))
    record: dict[str, Any] = {
        "label": label,
        "seconds": elapsed,
        "defs_s": defs_s,
        "register_s": register_s,
    }
    record.update(details)
    if aggregate:
        record.update(_aggregate_after(defs, instance, keys, label))
    instance.dispose()
    shutil.rmtree(results, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    return record


def _timed_backfill(
    jobs: tuple[Any, Any], instance: Any, keys: list[str], label: str, profile: bool
) -> tuple[float, dict[str, Any]]:
    """Run the backfill as `materialize --single-run` does (one run validating the parts, one
    backtesting them for the base variant; under cProfile if ``profile``), check it stored
    every partition; its wall time and what the event log and the materializations say (of
    the backtest run)."""

    from trading_runtime.runs.launch import run_partition_range

    validate, backtest = jobs

    def backfill() -> Any:
        validated = run_partition_range(validate, instance, keys)
        if not validated.success:
            return validated
        return run_partition_range(backtest, instance, [f"{keys[0]}|base", f"{keys[-1]}|base"])

    profile_text: dict[str, Any] | None = None
    started = time.perf_counter()
    if profile:
        result, profile_text = profile_call(backfill)
    else:
        result = backfill()
    elapsed = time.perf_counter() - started
    if not result.success:
        raise BenchmarkError(f"backfill {label} failed: {failure_text(result)}")
    walls = materialization_walls(result)
    if sorted(walls) != sorted(keys):
        raise BenchmarkError(f"backfill {label}: {len(walls)} of {len(keys)} partitions stored")
    return elapsed, {
        "breakdown": run_breakdown(instance, result.run_id),
        "walls": list(walls.values()),
        "compiles": compile_count(list(walls.values())),
        "profile": profile_text,
    }


def _aggregate_after(defs: Any, instance: Any, keys: list[str], label: str) -> dict[str, Any]:
    """The aggregate job over the backfill's N results, in the same process."""
    from trading_runtime.runs.launch import run_aggregate

    started = time.perf_counter()
    agg = run_aggregate(defs.resolve_job_def("aggregate"), instance)
    aggregate_s = time.perf_counter() - started
    if not agg.success:
        raise BenchmarkError(f"aggregate after backfill {label}: {failure_text(agg)}")
    parts = agg.asset_materializations_for_node("aggregate_metrics")[0].metadata["parts"]
    if parts.value != len(keys):
        raise BenchmarkError(f"aggregate saw {parts.value} parts, expected {len(keys)}")
    return {"aggregate_s": aggregate_s, "aggregate_breakdown": run_breakdown(instance, agg.run_id)}
