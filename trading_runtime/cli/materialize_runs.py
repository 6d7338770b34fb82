"""The runs of `trading-runtime materialize`: parts validated (job ``validate_parts``), then
backtests per part x variant (job ``backtest_parts``); one run per partition, or with
``--single-run`` one run per stretch (a box of parts x variants)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import click

from trading_runtime.cli.common import echo_error
from trading_runtime.cli.signals import run_interruptibly
from trading_runtime.defs.jobs import BACKTEST_JOB, VALIDATE_JOB
from trading_runtime.defs.partitions import BASE_VARIANT_KEY, result_key
from trading_runtime.freshness.plan import BacktestPlan
from trading_runtime.runs.launch import (
    contiguous_stretches,
    failure_messages,
    run_partition,
    run_partition_range,
)
from trading_runtime.runs.variants import result_boxes

__all__ = ["aggregate_and_rank", "backtest_partitions", "shown_key", "validate_parts"]

# Parts whose chart path is printed (each result has one; result.json names its version).
CHARTS_LISTED = 10


def shown_key(part: str, variant: str) -> str:
    """How a partition is printed: the part alone for the configured backtest (``base``)."""
    return part if variant == BASE_VARIANT_KEY else result_key(part, variant)


def validate_parts(
    defs: Any, instance: Any, parts: Sequence[str], part_order: Sequence[str], single_run: bool
) -> dict[str, str]:
    """Materialize ``parts`` for ``parts``, one run per stretch of neighbours; the failed parts
    with a message each. Without ``single_run`` a failed stretch is validated again part by
    part, so that one bad part fails only itself (the common case costs one run)."""
    job = defs.resolve_job_def(VALIDATE_JOB)
    failed: dict[str, str] = {}
    for group in contiguous_stretches(part_order, parts):
        if len(group) > 1:
            result = run_interruptibly(partial(run_partition_range, job, instance, group))
        else:
            result = run_interruptibly(partial(run_partition, job, instance, group[0]))
        if result.success:
            continue
        if single_run or len(group) == 1:
            message = "; ".join(failure_messages(result)) or "validation failed"
            failed.update({part: message for part in group})
        else:
            for part in group:
                failed.update(validate_parts(defs, instance, [part], part_order, False))
    return failed


def backtest_partitions(
    defs: Any,
    instance: Any,
    plans: Mapping[str, BacktestPlan],
    part_order: Sequence[str],
    variant_order: Sequence[str],
    single_run: bool,
) -> tuple[int, list[str]]:
    """Run what ``plans`` (by variant) say; (partitions that succeeded, shown keys that failed).
    Progress and failures are printed as they happen."""
    job = defs.resolve_job_def(BACKTEST_JOB)
    succeeded, failed = 0, list[str]()
    if single_run:
        to_run = {variant: list(plan.to_run) for variant, plan in plans.items()}
        for box in result_boxes(part_order, variant_order, to_run):
            first, last = box.parts[0], box.parts[-1]
            # The configured backtest alone reads as before variants: "(first..last)".
            variants = "" if box.variants == [BASE_VARIANT_KEY] else f" x {box.variants[0]}"
            if len(box.variants) > 1:
                variants += f"..{box.variants[-1]}"
            click.echo(
                f"backtesting {box.size} partition(s) ({first}..{last}{variants}) in one run"
            )
            keys = [result_key(first, box.variants[0]), result_key(last, box.variants[-1])]
            result = run_interruptibly(partial(run_partition_range, job, instance, keys))
            if result.success:
                succeeded += box.size
            else:
                failed.extend(shown_key(p, v) for v in box.variants for p in box.parts)
                for message in failure_messages(result):
                    echo_error(f"FAILED {message}")
        return succeeded, failed
    total = sum(len(plan.to_run) for plan in plans.values())
    index = 0
    for variant, plan in plans.items():
        for part, reason in plan.to_run.items():
            index += 1
            shown = shown_key(part, variant)
            started = time.perf_counter()
            key = result_key(part, variant)
            result = run_interruptibly(partial(run_partition, job, instance, key))
            elapsed = time.perf_counter() - started
            position = f"[{index}/{total}]"
            if result.success:
                succeeded += 1
                click.echo(f"{position} ok     {shown} ({elapsed:.1f} s; {reason})")
            else:
                failed.append(shown)
                for message in failure_messages(result):
                    echo_error(f"{position} FAILED {shown}: {message}")
    return succeeded, failed


def _echo_charts(results: Any, aggregate_chart: Any) -> None:
    """Where the charts are: the aggregate's and the first parts' (stored results)."""
    from trading_runtime.results.store import load_results, stored_result_keys
    from trading_runtime.storage import as_upath, is_local

    keys = stored_result_keys(results)
    if aggregate_chart is not None:
        path = as_upath(str(aggregate_chart.value))
        click.echo(f"chart: {path.resolve() if is_local(path) else path}")
    # A damaged result (its run failed) is left out here: its failure was reported.
    for result in load_results(results, keys[:CHARTS_LISTED], damaged={}).values():
        if result.chart_path is not None:
            click.echo(f"chart: {result.chart_path}")
    if len(keys) > CHARTS_LISTED:
        click.echo(f"       ... and {len(keys) - CHARTS_LISTED} more part charts")


def aggregate_and_rank(defs: Any, instance: Any, results: Any) -> None:
    """The aggregate job: aggregate_metrics (printed) and sweep_leaderboard (printed when there
    are sweep variants)."""
    from trading_runtime.defs.metadata import CHART_PATH_METADATA
    from trading_runtime.runs.launch import run_aggregate

    aggregate_job = defs.resolve_job_def("aggregate")
    aggregate = run_interruptibly(partial(run_aggregate, aggregate_job, instance))
    if not aggregate.success:
        for message in failure_messages(aggregate):
            echo_error(f"FAILED {message}")
        sys.exit(1)
    metadata = aggregate.asset_materializations_for_node("aggregate_metrics")[0].metadata
    click.echo(str(metadata["table"].value))
    orphaned = metadata.get("orphaned_results")
    if orphaned is not None and orphaned.value:
        listed = metadata["first_orphaned_results"].value
        assert isinstance(listed, list)
        echo_error(
            f"{orphaned.value} stored result(s) without a part file, not aggregated"
            f" (orphaned): {', '.join(map(str, listed))}"
        )
    _echo_charts(results, metadata.get(CHART_PATH_METADATA))
    board = aggregate.asset_materializations_for_node("sweep_leaderboard")[0].metadata
    if "table" in board:
        click.echo(f"sweep leaderboard ({board['variants'].value} variants):")
        click.echo(str(board["table"].value))
        click.echo(f"leaderboard: {board['path'].value}")
