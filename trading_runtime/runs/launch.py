"""The project's Dagster jobs run in this process: the CLI's main job and the benchmark.

Both go through the same instance, job and tags that the UI and a backfill would use. Each run is
tagged with the process that owns it (``owners``), so that a later start-up can mark it failed
when that process died: no daemon watches these runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import DagsterInstance, ExecuteInProcessResult, JobDefinition

from trading_runtime.defs.dagster_compat import partition_range_tags
from trading_runtime.defs.metadata import FAILURES_METADATA
from trading_runtime.runs.owners import owner_tags

__all__ = [
    "QUIET_RUN_CONFIG",
    "contiguous_stretches",
    "failure_messages",
    "run_aggregate",
    "run_partition",
    "run_partition_range",
]


# The CLI prints its own progress; Dagster's per-event console log would drown it.
# Failures included: the CLI prints each once, in one line (``failure_messages``).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def contiguous_stretches(ordered: Sequence[str], selected: Sequence[str]) -> list[list[str]]:
    """``selected`` keys as runs of neighbours in ``ordered`` (the partitions' registration
    order): a single-run backfill covers a range, so each stretch is one run."""
    wanted = set(selected)
    stretches: list[list[str]] = []
    current: list[str] = []
    for key in ordered:
        if key in wanted:
            current.append(key)
        elif current:
            stretches.append(current)
            current = []
    if current:
        stretches.append(current)
    return stretches


def run_partition(
    job: JobDefinition, instance: DagsterInstance, key: str
) -> ExecuteInProcessResult:
    return job.execute_in_process(
        instance=instance,
        partition_key=key,
        tags=owner_tags(),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def run_partition_range(
    job: JobDefinition, instance: DagsterInstance, keys: Sequence[str]
) -> ExecuteInProcessResult:
    """One run over ``keys[0]..keys[-1]`` in registration order: a single-run backfill."""
    return job.execute_in_process(
        instance=instance,
        tags={**owner_tags(), **partition_range_tags(keys[0], keys[-1])},
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def run_aggregate(job: JobDefinition, instance: DagsterInstance) -> ExecuteInProcessResult:
    """The ``aggregate`` job over every stored result."""
    return job.execute_in_process(
        instance=instance, tags=owner_tags(), raise_on_error=False, run_config=QUIET_RUN_CONFIG
    )


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _cause_message(error: Any) -> str:
    """The first error that is not Dagster's own wrapper (IO manager errors come wrapped)."""
    while str(error.cls_name).startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    return _one_line(str(error.message)) or str(error.cls_name)


def failure_messages(result: Any) -> list[str]:
    """One line per failure of a run: each failed part's error (``FAILURES_METADATA``), else
    ``step: cause`` with the step's error as raised (not Dagster's wrapper around it)."""
    messages: list[str] = []
    for event in result.all_events:
        if not event.is_step_failure or event.step_failure_data is None:
            continue
        failure = event.step_failure_data.user_failure_data
        per_part = failure.metadata.get(FAILURES_METADATA) if failure is not None else None
        if per_part is not None:
            messages.extend(_one_line(str(error)) for error in per_part.value.values())
        elif failure is not None and failure.description:
            messages.append(f"{event.step_key}: {_one_line(failure.description)}")
        elif event.step_failure_data.error is not None:
            messages.append(f"{event.step_key}: {_cause_message(event.step_failure_data.error)}")
    return messages
