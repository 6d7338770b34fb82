"""The project's Dagster jobs run in this process: the CLI's main job and the benchmark.

Both go through the same instance, job and tags that the UI and a backfill would use.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, ExecuteInProcessResult, JobDefinition

from trading_runtime.dagster_compat import partition_range_tags
from trading_runtime.defs.partitions import PARTS_PARTITIONS, unregistered_part_keys

__all__ = [
    "QUIET_RUN_CONFIG",
    "dagster_home",
    "failure_messages",
    "register_parts",
    "run_aggregate",
    "run_partition",
    "run_partition_range",
]

# The CLI prints its own progress; Dagster's per-event console log would drown it.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def dagster_home() -> Path:
    """``DAGSTER_HOME``, set to ``./.dagster`` when unset (what ``make dev`` shows)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


def register_parts(instance: DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Add the keys that are not partitions yet (what the sensor does); the new ones."""
    new_keys = unregistered_part_keys(instance, keys)
    if new_keys:
        instance.add_dynamic_partitions(PARTS_PARTITIONS, new_keys)
    return new_keys


def run_partition(
    job: JobDefinition, instance: DagsterInstance, key: str
) -> ExecuteInProcessResult:
    return job.execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False, run_config=QUIET_RUN_CONFIG
    )


def run_partition_range(
    job: JobDefinition, instance: DagsterInstance, keys: Sequence[str]
) -> ExecuteInProcessResult:
    """One run over ``keys[0]..keys[-1]`` in registration order: a single-run backfill."""
    return job.execute_in_process(
        instance=instance,
        tags=partition_range_tags(keys[0], keys[-1]),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def run_aggregate(job: JobDefinition, instance: DagsterInstance) -> ExecuteInProcessResult:
    """The ``aggregate`` job over every stored result."""
    return job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
    )


def failure_messages(result: Any) -> list[str]:
    """``step: what went wrong`` for every failed step of a run."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.user_failure_data
            description = error.description if error is not None else None
            if not description and event.step_failure_data.error is not None:
                description = event.step_failure_data.error.message.strip()
            messages.append(f"{event.step_key}: {description}")
    return messages
