"""`trading-runtime materialize`: the main local job, through Dagster in this process."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from trading_runtime.cli.common import echo_error
from trading_runtime.cli.signals import Interrupted, signals_raise
from trading_runtime.config import ConfigError, load_config

__all__ = ["materialize"]


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
@click.option(
    "--sweep",
    "sweep_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A sweep file (grid or list of overrides): registered among the sweep files (copied"
    " into the sweeps directory) and only its variants backtested, then ranked by"
    " sweep_leaderboard. Default: the config itself and every sweep file's variants.",
)
def materialize(
    single_run: bool, selected: tuple[str, ...], force: bool, sweep_path: Path | None
) -> None:
    """The main local job: register parts and variants (the config and the sweep files'
    points), backtest the partitions (part x variant) that are missing, failed or stale (part
    file, config, strategy source or engine changed), aggregate and rank when a result changed.
    SIGINT or SIGTERM stops it (exit 130 or 143): the running run is canceled."""
    with signals_raise():
        try:
            _materialize(single_run, selected, force, sweep_path)
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


def _materialize(
    single_run: bool, selected: tuple[str, ...], force: bool, sweep_path: Path | None
) -> None:
    from trading_runtime.cli.convert_raw import convert_raw_files
    from trading_runtime.cli.materialize_runs import (
        aggregate_and_rank,
        backtest_partitions,
        validate_parts,
    )
    from trading_runtime.data.parts_store import scan_parts
    from trading_runtime.defs import build_definitions
    from trading_runtime.defs.partitions import PARTS_PARTITIONS, VARIANTS_PARTITIONS
    from trading_runtime.layout import AGGREGATE_FILE, RESULTS_DIR
    from trading_runtime.results.store import stored_result_keys
    from trading_runtime.runs.instance import (
        InstanceConfigError,
        aggregate_is_current,
        dagster_home,
        open_instance,
        register_parts,
        remove_vanished_parts,
    )
    from trading_runtime.runs.owners import mark_dead_runs_failed
    from trading_runtime.runs.variants import plan_variant_runs, register_variants, scoped_configs
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import as_upath, is_local
    from trading_runtime.sweeps import SweepError, check_partition_budget
    from trading_runtime.sweeps.registry import current_variants

    started = time.perf_counter()
    settings = load_settings()
    home = dagster_home()
    try:
        config = load_config(settings.config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    only = _register_sweep(config, settings, sweep_path) if sweep_path is not None else None
    try:  # one process at a time: a fresh home's schema stamped once
        instance = open_instance(settings.storage_retry_s)
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
    # The variants: base and the sweep files' points (a file that does not plan is left out).
    current = current_variants(config, settings.config, settings.sweeps)
    for name, problem in current.problems.items():
        echo_error(f"SWEEP FILE LEFT OUT {name}: {problem}")
    try:
        check_partition_budget(len(current.keys), len(keys))
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    new_variants, _ = register_variants(instance, current)
    configs = scoped_configs(config, settings.config, current, only)
    click.echo(
        f"{len(keys)} part(s) in {settings.parts_dir} ({len(new_keys)} newly registered);"
        f" {len(configs)} variant(s)"
        + (f" ({len(new_variants)} newly registered)" if len(current.keys) > 1 else "")
        + f"; config {settings.config}; Dagster instance {home}"
    )
    # Registration order: a single run covers a range of partitions in that order.
    registered = list(instance.get_dynamic_partitions(PARTS_PARTITIONS))
    candidates = [key for key in registered if key in selected] if selected else registered
    plans = plan_variant_runs(
        instance,
        configs,
        candidates,
        parts_dir=settings.parts_dir,
        results=settings.results,
        force=force,
    )
    for variant, plan in plans.items():
        # The hash cache is shared: the count is how many part files were read in full in all.
        hashed = (
            "" if force or variant != list(plans)[-1] else f"; {plan.hashed} part file(s) hashed"
        )
        click.echo(
            (f"variant {variant}: " if len(plans) > 1 else "")
            + f"{len(plan.up_to_date)} partition(s) up to date, {len(plan.to_run)} to backtest"
            + (f" ({_reasons(plan.to_run)})" if plan.to_run else "")
            + hashed
        )
    needed = {part for plan in plans.values() for part in plan.to_run}
    invalid = validate_parts(
        defs, instance, [p for p in registered if p in needed], registered, single_run
    )
    for part, message in invalid.items():
        echo_error(f"[parts] FAILED {part}: {message}")
    for plan in plans.values():
        for part in invalid:
            plan.to_run.pop(part, None)
    variant_order = list(instance.get_dynamic_partitions(VARIANTS_PARTITIONS))
    succeeded, failed = backtest_partitions(
        defs, instance, plans, registered, variant_order, single_run
    )
    failed = [*invalid, *failed]
    base = as_upath(settings.results)
    results = base.resolve() if is_local(base) else base
    # The aggregate changes only with a result, a removed part or a newly registered one (a
    # deleted part's file put back: its stored result is up to date, nothing runs, and the
    # aggregate made without it would stay so); after a killed run it may be older than the
    # newest result, which Dagster's event log tells.
    rebuild = succeeded or removed or new_keys or force
    aggregated = set(keys) & set(stored_result_keys(base))
    if rebuild or not aggregate_is_current(instance, base / AGGREGATE_FILE, aggregated):
        click.echo("aggregating")
        aggregate_and_rank(defs, instance, results)
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
    if failed or listing.refused or raw_failed or current.problems:
        sys.exit(1)


def _register_sweep(config: Any, settings: Any, sweep_path: Path) -> list[str]:
    """``--sweep FILE``: plan it (nothing runs when a point is bad), put it among the sweep
    files (a copy, unless it is one), and return its variants' keys."""
    from trading_runtime.storage import as_upath, write_file
    from trading_runtime.sweeps import SweepError, load_sweep_file, plan_variants
    from trading_runtime.sweeps.registry import SWEEP_FILE_SUFFIX

    try:
        variants = plan_variants(config, load_sweep_file(sweep_path), settings.config)
    except SweepError as exc:
        raise click.ClickException(str(exc)) from None
    sweeps = Path(settings.sweeps)
    target = sweeps / (sweep_path.stem + SWEEP_FILE_SUFFIX)
    data = sweep_path.read_bytes()
    if target.resolve() != sweep_path.resolve():
        if target.exists() and target.read_bytes() != data:
            raise click.ClickException(
                f"{target} exists and differs from {sweep_path}: rename one of them"
            )
        if not target.exists():
            sweeps.mkdir(parents=True, exist_ok=True)
            write_file(data, as_upath(target))
            click.echo(f"sweep {sweep_path} registered as {target}")
    return [variant.key for variant in variants]


def _reasons(to_run: dict[str, str]) -> str:
    """``to_run``'s reasons counted, most frequent first: "2 no result, 1 part changed"."""
    counts = Counter(to_run.values())
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
