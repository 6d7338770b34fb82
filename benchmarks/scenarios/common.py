"""What the child scenarios share: the spec type and measurement helpers around the project's
own ways of running jobs (``trading_runtime.runs.launch``, what ``trading-runtime materialize``
uses).

Used in child processes only; Dagster and trading-runtime imports stay inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from benchmarks.postgres import create_database, dagster_yaml

Spec = dict[str, Any]


def fresh_instance(home: Path, postgres_admin_url: str | None = None) -> Any:
    """A new Dagster instance at ``home`` (DAGSTER_HOME set), opened as the CLI opens it
    (``open_instance``): Dagster's defaults, SQLite files in ``home``, as ``make run`` creates
    it; or, given a PostgreSQL server's admin URL, every storage in a new database on it."""
    from trading_runtime.runs.instance import open_instance

    home.mkdir(parents=True, exist_ok=True)
    url = None if postgres_admin_url is None else create_database(postgres_admin_url, home.name)
    (home / "dagster.yaml").write_text(dagster_yaml(url))
    os.environ["DAGSTER_HOME"] = str(home)
    return open_instance()


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
    """Per-partition worker time (start-up + backtest: ``startup_s + wall_time_s``) from a
    run's backtest_results materializations."""
    walls = {}
    for materialization in result.asset_materializations_for_node("backtest_results"):
        value = materialization.metadata.get("wall_time_s")
        if value is not None:
            startup = materialization.metadata.get("startup_s")
            extra = float(startup.value) if startup is not None else 0.0
            # By part: "<part>|base" is the configured backtest's partition.
            walls[str(materialization.partition).split("|")[0]] = float(value.value) + extra
    return walls


def failure_text(result: Any) -> str:
    from trading_runtime.runs.launch import failure_messages

    return "\n".join(failure_messages(result)) or "run failed"


def close_worker_pools() -> None:
    """Stop the process's warm pools so their workers are reaped (and in RUSAGE_CHILDREN)."""
    from trading_runtime.backtest.pool import close_shared_pools

    close_shared_pools()


def part_tasks(parts_dir: Path, out: Path) -> list[Any]:
    """One backtest task per part in ``parts_dir`` (sorted), writing under ``out``."""
    from trading_runtime.backtest.fan_out import BacktestTask
    from trading_runtime.data.parts_store import list_part_keys, part_location
    from trading_runtime.layout import part_key

    paths = [Path(part_location(parts_dir, key).path) for key in list_part_keys(parts_dir)]
    return [BacktestTask(part_key(p), p, out / part_key(p)) for p in paths]
