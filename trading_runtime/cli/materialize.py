"""`trading-runtime materialize`: the main local job, through Dagster in this process."""

from __future__ import annotations

import sys
import time
from collections import Counter
from functools import partial
from typing import Any

import click

from trading_runtime.cli.common import echo_error
from trading_runtime.cli.signals import Interrupted, run_interruptibly, signals_raise
from trading_runtime.config import ConfigError, load_config

__all__ = ["materialize"]

# Parts whose chart path is printed (each result has one; result.json names its version).
CHARTS_LISTED = 10


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


@click.command()
@click.option(
    "--single-run",
    is_flag=True,
    help="Backtest the partitions in one run per stretch of neighbours (fastest for many parts;"
    " one failure fails its run). Default: one run per partition, so failures stay isolated.",
)
@click.option(
    "--partition",
    "selected",
    multiple=True,
    metavar="KEY",
    help="Consider only these partitions (repeatable; one run each); every part is still"
    " registered and the aggregate covers every stored result.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Backtest every partition (or every --partition) even when its result is up to date.",
)
def materialize(single_run: bool, selected: tuple[str, ...], force: bool) -> None:
    """The main local job: register parts, backtest the partitions that are missing, failed or
    stale (part file, config, strategy source or engine changed), aggregate when a result
    changed. SIGINT or SIGTERM stops it (exit 130 or 143): the running run is canceled."""
    with signals_raise():
        try:
            _materialize(single_run, selected, force)
        except Interrupted as exc:
            _stop(exc)


def _stop(exc: Interrupted) -> None:
    """Cancel this process's running run, kill the engine workers, remove its staging, exit."""
    from trading_runtime.backtest.staging import remove_own_staging, staging_base_for
    from trading_runtime.cli.signals import exit_interrupted, stop_workers
    from trading_runtime.layout import RESULTS_DIR
    from trading_runtime.runs.instance import open_instance
    from trading_runtime.runs.owners import mark_canceled, own_unfinished_runs
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import as_upath, is_local

    instance = open_instance()
    running = own_unfinished_runs(instance)
    stop_workers(exc)  # the running step fails at once; its thread ends
    canceled = mark_canceled(
        instance, [*running, *own_unfinished_runs(instance)], f"interrupted by {exc.name}"
    )
    partitions = as_upath(load_settings().results) / RESULTS_DIR
    if is_local(partitions):
        remove_own_staging(staging_base_for(partitions))
    exit_interrupted(
        exc, f"{len(canceled)} run(s) canceled; the next `materialize` resumes where it stopped"
    )


def _materialize(single_run: bool, selected: tuple[str, ...], force: bool) -> None:
    from trading_runtime.cli.convert_raw import convert_raw_files
    from trading_runtime.data.parts_store import scan_parts
    from trading_runtime.defs import build_definitions
    from trading_runtime.defs.metadata import CHART_PATH_METADATA
    from trading_runtime.defs.partitions import PARTS_PARTITIONS
    from trading_runtime.freshness.damage import result_hash_cache
    from trading_runtime.freshness.plan import plan_backtests
    from trading_runtime.layout import AGGREGATE_FILE, RESULTS_DIR
    from trading_runtime.runs.instance import (
        InstanceConfigError,
        aggregate_is_current,
        dagster_home,
        open_instance,
        part_hash_cache,
        partition_statuses,
        register_parts,
        remove_vanished_parts,
    )
    from trading_runtime.runs.launch import (
        contiguous_stretches,
        failure_messages,
        run_aggregate,
        run_partition,
        run_partition_range,
    )
    from trading_runtime.runs.owners import mark_dead_runs_failed
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import as_upath, is_local

    started = time.perf_counter()
    settings = load_settings()
    home = dagster_home()
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:  # one process at a time: a fresh home's schema stamped once
        instance = open_instance()
    except InstanceConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # No daemon watches the runs of this command: a run whose process was killed stays STARTED
    # until the next start-up finds its owner gone.
    for dead in mark_dead_runs_failed(instance):
        echo_error(f"marked failed: {dead.message}")
    defs = build_definitions(settings)
    # Raw files first: the parts they make (new or changed) are then planned like any other.
    raw_failed = convert_raw_files(settings, instance, defs)
    listing = scan_parts(settings.parts_dir)
    for name in listing.refused:
        echo_error(f"REFUSED part file {name}: {listing.reason(name)}")
    if not listing.found:
        raise click.ClickException(f"parts directory {settings.parts_dir} not found")
    keys = listing.keys
    # A deleted part's partition goes (what the sensor does), so backfills cover the parts there
    # are; its stored result stays, reported as orphaned by the aggregate.
    removed = remove_vanished_parts(instance, keys)
    if removed:
        click.echo(
            f"removed {len(removed)} partition(s) whose part file is gone: {', '.join(removed)}"
        )
    if not keys:
        raise click.ClickException(f"no part files in {settings.parts_dir}")
    if selected and single_run:
        raise click.ClickException("--partition and --single-run: choose one")
    unknown = sorted(set(selected) - set(keys))
    if unknown:
        raise click.ClickException(
            f"no part file in {settings.parts_dir} for partition(s) {', '.join(unknown)}"
        )
    new_keys = register_parts(instance, keys)
    click.echo(
        f"{len(keys)} part(s) in {settings.parts_dir} ({len(new_keys)} newly registered);"
        f" config {settings.config}; Dagster instance {home}"
    )
    # Registration order: a single run covers a range of partitions in that order.
    registered = list(instance.get_dynamic_partitions(PARTS_PARTITIONS))
    candidates = [key for key in registered if key in selected] if selected else registered
    plan = plan_backtests(
        candidates,
        statuses=partition_statuses(instance, candidates),
        config=config,
        parts_dir=settings.parts_dir,
        results=settings.results,
        hashes=part_hash_cache(),
        result_hashes=result_hash_cache(),
        force=force,
    )
    click.echo(
        f"{len(plan.up_to_date)} partition(s) up to date, {len(plan.to_run)} to backtest"
        + (f" ({_reasons(plan.to_run)})" if plan.to_run else "")
        + ("" if force else f"; {plan.hashed} part file(s) hashed")
    )
    job = defs.resolve_job_def("backtest_parts")
    failed: list[str] = []
    succeeded = 0
    if single_run:
        for stretch in contiguous_stretches(registered, list(plan.to_run)):
            click.echo(
                f"backtesting {len(stretch)} partition(s) ({stretch[0]}..{stretch[-1]}) in one run"
            )
            result = run_interruptibly(partial(run_partition_range, job, instance, stretch))
            if result.success:
                succeeded += len(stretch)
            else:
                failed.extend(stretch)
                for message in failure_messages(result):
                    echo_error(f"FAILED {message}")
    else:
        for index, (key, reason) in enumerate(plan.to_run.items(), start=1):
            run_started = time.perf_counter()
            result = run_interruptibly(partial(run_partition, job, instance, key))
            elapsed = time.perf_counter() - run_started
            position = f"[{index}/{len(plan.to_run)}]"
            if result.success:
                succeeded += 1
                click.echo(f"{position} ok     {key} ({elapsed:.1f} s; {reason})")
            else:
                failed.append(key)
                for message in failure_messages(result):
                    echo_error(f"{position} FAILED {key}: {message}")
    base = as_upath(settings.results)
    results = base.resolve() if is_local(base) else base
    # The aggregate changes only with a result (or a removed part); after a killed run it may
    # be older than the newest result, which Dagster's event log tells.
    if succeeded or removed or force or not aggregate_is_current(instance, base / AGGREGATE_FILE):
        click.echo("aggregating")
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
    else:
        click.echo(f"aggregate up to date: {results}/{AGGREGATE_FILE}")
    click.echo(
        f"results: {results}/{RESULTS_DIR}/<part>/ and {results}/{AGGREGATE_FILE}"
        f" ({time.perf_counter() - started:.1f} s). Browse them with `make dev`."
    )
    if listing.refused:
        echo_error(f"{len(listing.refused)} part file(s) refused: {', '.join(listing.refused)}")
    if raw_failed:
        echo_error(f"{len(raw_failed)} raw group(s) failed: {', '.join(raw_failed)}")
    if failed:
        echo_error(f"{len(failed)} partition(s) failed: {', '.join(failed)}")
    if failed or listing.refused or raw_failed:
        sys.exit(1)


def _reasons(to_run: dict[str, str]) -> str:
    """``to_run``'s reasons counted, most frequent first: "2 no result, 1 part changed"."""
    counts = Counter(to_run.values())
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
