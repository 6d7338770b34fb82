"""What the child scenarios share: the spec type, run settings and Dagster helpers.

Used in child processes only; Dagster and trading-runtime imports stay inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Spec = dict[str, Any]

QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PARTITIONS_NAME = "parts"
DAGSTER_YAML = ""  # what `make run` creates (`touch dagster.yaml`): the defaults


def fresh_instance(home: Path) -> Any:
    """A new Dagster instance at ``home`` (DAGSTER_HOME set, as the CLI does)."""
    from dagster import DagsterInstance

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_breakdown(instance: Any, run_id: str) -> dict[str, Any]:
    """Step durations and the run's span from its event log (wall-clock timestamps)."""
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    run_start = run_end = None
    logs = instance.all_logs(run_id)
    for entry in logs:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = entry.timestamp - starts.get(event.step_key, entry.timestamp)
    return {
        "run_start": run_start,
        "run_end": run_end,
        "run_s": (run_end - run_start) if run_start and run_end else None,
        "steps": steps,
        "n_events": len(logs),
    }


def materialization_walls(result: Any) -> dict[str, float]:
    """Per-partition backtest wall_time_s from a run's backtest_results materializations."""
    walls = {}
    for materialization in result.asset_materializations_for_node("backtest_results"):
        value = materialization.metadata.get("wall_time_s")
        if value is not None:
            walls[str(materialization.partition)] = float(value.value)
    return walls


def failure_text(result: Any) -> str:
    lines = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            data = event.step_failure_data
            description = data.user_failure_data.description if data.user_failure_data else ""
            lines.append(f"{event.step_key}: {description or (data.error and data.error.message)}")
    return "\n".join(lines) or "run failed"


def range_tags(keys: Sequence[str]) -> dict[str, str]:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def close_engine_pools() -> None:
    """Stop the process's warm pools so their workers are reaped (and in RUSAGE_CHILDREN)."""
    from trading_runtime import backtest

    backtest._close_pools()


def part_tasks(parts_dir: Path, out: Path) -> list[Any]:
    """One backtest task per part in ``parts_dir`` (sorted), writing under ``out``."""
    from trading_runtime.backtest import BacktestTask

    return [BacktestTask(p.stem, p, out / p.stem) for p in sorted(parts_dir.glob("*.npz"))]
