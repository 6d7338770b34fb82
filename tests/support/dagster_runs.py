"""Runs as `materialize` makes them: the part validated (job ``validate_parts``), then its
backtest for a variant (job ``backtest_parts``, partition ``<part>|<variant>``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import DagsterInstance

from trading_runtime.defs.partitions import BASE_VARIANT_KEY, result_key
from trading_runtime.runs.launch import run_partition, run_partition_range


def run_backtest(
    defs: Any, instance: DagsterInstance, part: str, variant: str = BASE_VARIANT_KEY
) -> Any:
    """Validate ``part`` and backtest it; the failed validation's result, else the backtest's."""
    validated = run_partition(defs.resolve_job_def("validate_parts"), instance, part)
    if not validated.success:
        return validated
    return run_partition(
        defs.resolve_job_def("backtest_parts"), instance, result_key(part, variant)
    )


def run_backtest_range(
    defs: Any, instance: DagsterInstance, parts: Sequence[str], variant: str = BASE_VARIANT_KEY
) -> Any:
    """One run validating ``parts[0]..parts[-1]``, then one backtesting them: single-run
    backfills."""
    validated = run_partition_range(defs.resolve_job_def("validate_parts"), instance, parts)
    if not validated.success:
        return validated
    keys = [result_key(parts[0], variant), result_key(parts[-1], variant)]
    return run_partition_range(defs.resolve_job_def("backtest_parts"), instance, keys)
