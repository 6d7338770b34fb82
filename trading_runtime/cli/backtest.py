"""`trading-runtime backtest` and `aggregate`: the per-partition entrypoint without Dagster (what
Argo pods run) and the aggregate table over stored results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trading_runtime.cli.common import echo_error, format_metrics
from trading_runtime.cli.signals import Interrupted, signals_raise
from trading_runtime.config import ConfigError, load_config

if TYPE_CHECKING:
    from upath import UPath

__all__ = ["aggregate", "backtest"]


def _parse_overrides(sets: tuple[str, ...], overrides_json: str | None) -> dict[str, Any]:
    """``--overrides '{"k": v}'`` and ``--set k=v`` (value read as JSON, else as a string)."""
    overrides: dict[str, Any] = {}
    if overrides_json:
        try:
            loaded = json.loads(overrides_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(
                f"not valid JSON ({exc.msg})", param_hint="--overrides"
            ) from None
        if not isinstance(loaded, dict):
            raise click.BadParameter(
                'expected a JSON object of dotted keys, e.g. {"strategy.skew": 0.5}',
                param_hint="--overrides",
            )
        overrides.update(loaded)
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--set")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


def _stop(exc: Interrupted, out: str) -> None:
    """Kill the engine workers, remove this process's staging, exit 130 or 143."""
    from trading_runtime.backtest.staging import remove_own_staging, staging_base_for
    from trading_runtime.cli.signals import exit_interrupted, stop_workers

    stop_workers(exc)
    remove_own_staging(staging_base_for(out))
    exit_interrupted(exc, "the parts already published stay; run it again for the rest")


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field by dotted key, e.g. --set strategy.quote_offset_ticks=2"
    " (repeatable; VALUE is read as JSON when it parses).",
)
@click.option(
    "--overrides",
    "overrides_json",
    metavar="JSON",
    help="Overrides as one JSON object of dotted keys (what Argo sweeps pass).",
)
@click.option(
    "--part",
    "parts",
    multiple=True,
    help="A part file or URL (repeatable). Default: every part in TRADING_RUNTIME_PARTS_DIR.",
)
@click.option(
    "--out",
    default="results/cli",
    show_default=True,
    help="Directory or URL (s3://…); results go to OUT/<part>/. Dagster's layout is"
    " <results>/backtest_results.",
)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per part.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def backtest(
    config_path: Path,
    sets: tuple[str, ...],
    overrides_json: str | None,
    parts: tuple[str, ...],
    out: str,
    timeout_s: float | None,
    workers: int | None,
) -> None:
    """Run a backtest config on parts directly (no Dagster): the per-partition entrypoint that
    Dagster runs for each partition and Argo runs in each pod."""
    from trading_runtime.backtest.inputs import keyed_locations
    from trading_runtime.backtest.publish import backtest_and_publish
    from trading_runtime.config import apply_overrides
    from trading_runtime.data.parts_store import part_location, scan_parts
    from trading_runtime.layout import PART_KEY_RULE, PartNameError, part_key
    from trading_runtime.results import BacktestResult
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import StorageError, as_upath

    settings = load_settings()
    try:
        config = load_config(config_path)
        overrides = _parse_overrides(sets, overrides_json)
        if overrides:
            config = apply_overrides(config, overrides, str(config_path))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # A part's key names its result directory under --out: refuse unsafe names before any path
    # is built (a part named `..npz` would otherwise publish over --out itself).
    refused: dict[str, str] = {}  # location -> why, for one line
    locations: list[str | UPath] = []
    if parts:
        for location in parts:
            try:
                part_key(location)
            except PartNameError as exc:
                refused[location] = f"{exc.problem} (a part name has {PART_KEY_RULE})"
                continue
            locations.append(location)
    else:
        listing = scan_parts(settings.parts_dir)
        refused = {
            str(as_upath(settings.parts_dir) / name): listing.reason(name)
            for name in listing.refused
        }
        locations = [part_location(settings.parts_dir, key) for key in listing.keys]
    for location, reason in refused.items():
        echo_error(f"REFUSED {location}: {reason}")
    if not locations:
        if refused:
            raise click.ClickException(f"{len(refused)} part file(s) refused, none to backtest")
        raise click.ClickException(f"no part files given and none in {settings.parts_dir}")
    click.echo(f"backtesting {len(locations)} part(s) with {config.id} ({config.adapter})")
    try:
        with signals_raise():  # SIGINT/SIGTERM: workers killed, staging removed, exit 130/143
            outcomes = backtest_and_publish(
                config,
                keyed_locations(locations),
                out,
                timeout_s=timeout_s or settings.timeout_s,
                startup_timeout_s=settings.startup_timeout_s,
                workers=workers or settings.workers,
            )
    except (ValueError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as exc:
        _stop(exc, out)
    for key, outcome in outcomes.items():
        if isinstance(outcome, BacktestResult):
            click.echo(f"ok     {key}: {format_metrics(outcome.metrics)} -> {outcome.directory}")
            if outcome.chart_path is not None:
                click.echo(f"       chart: {outcome.chart_path}")
        else:
            echo_error(f"FAILED {key}: {outcome}")
    failed = any(isinstance(o, Exception) for o in outcomes.values())
    sys.exit(1 if failed or refused else 0)


@click.command()
@click.option(
    "--results",
    default=None,
    help="Results base (directory or URL) holding backtest_results/<part>/, or a directory that"
    " `backtest --out` wrote (<part>/ directly). Default: TRADING_RUNTIME_RESULTS.",
)
def aggregate(results: str | None) -> None:
    """Aggregate stored results into <results>/aggregate_metrics.parquet (the same table as the
    Dagster asset aggregate_metrics), e.g. the last step of an Argo batch."""
    from trading_runtime.freshness.damage import load_verified
    from trading_runtime.layout import AGGREGATE_FILE, RESULTS_DIR
    from trading_runtime.results import ResultIntegrityError
    from trading_runtime.results.aggregate import aggregate as aggregate_of
    from trading_runtime.results.aggregate import write_aggregate_chart
    from trading_runtime.results.store import partitions_dir
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import StorageError, as_upath, storage_error, write_parquet

    base = results or load_settings().results
    try:
        # Every result verified (cached by size and mtime beside DAGSTER_HOME when set): a
        # damaged one fails the aggregate, named, rather than be aggregated or left out.
        stored = load_verified(base, partitions=partitions_dir(base))
    except OSError as exc:
        raise click.ClickException(str(storage_error(exc, "read"))) from None
    except ResultIntegrityError as exc:
        raise click.ClickException(str(exc)) from None
    if not stored:
        raise click.ClickException(
            f"no stored results under {base}/{RESULTS_DIR}/ or {base}/ (<part>/result.json)"
        )
    summary = aggregate_of(stored)
    destination = as_upath(base) / AGGREGATE_FILE
    try:
        write_parquet(summary.table, destination)
        _, chart = write_aggregate_chart(summary.table, base)
    except StorageError as exc:  # read-only or full disk; the previous table stays intact
        raise click.ClickException(str(exc)) from None
    click.echo(summary.markdown)
    if summary.mixed:
        echo_error(f"warning: parts come from different {', '.join(summary.mixed)}")
    click.echo(f"{len(stored)} part(s) -> {destination}")
    click.echo(f"chart: {chart}")
