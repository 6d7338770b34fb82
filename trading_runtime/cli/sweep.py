"""`trading-runtime sweep` (every variant of a sweep file on parts, no Dagster, in the Argo
batch's layout) and `trading-runtime leaderboard` (the variants ranked across parts, with the
probability of backtest overfitting, the deflated Sharpe ratio and walk-forward selection)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trading_runtime.cli.common import echo_error

__all__ = ["leaderboard", "sweep"]


def _plan(config_path: Path, sweep_path: Path) -> tuple[Any, tuple[Any, ...]]:
    """The base config and its validated variants (one line naming point and key on error)."""
    from trading_runtime.config import ConfigError, load_config
    from trading_runtime.sweeps.errors import SweepError
    from trading_runtime.sweeps.planning import plan_variants
    from trading_runtime.sweeps.sweep_file import load_sweep_file

    try:
        config = load_config(config_path)
        return config, plan_variants(config, load_sweep_file(sweep_path), str(config_path))
    except (ConfigError, SweepError) as exc:
        raise click.ClickException(str(exc)) from None


_CONFIG = click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
_SWEEP = click.option(
    "--sweep",
    "sweep_path",
    type=click.Path(path_type=Path),
    required=True,
    help="A sweep file: a grid object or a JSON list of override objects (docs/sweeps.md).",
)


@click.command()
@_CONFIG
@_SWEEP
@click.option("--part", "parts", multiple=True, help="A part file or URL (repeatable).")
@click.option(
    "--out",
    required=True,
    help="Results base (directory or URL): OUT/<variant id>/backtest_results/<part>/.",
)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per part.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def sweep(
    config_path: Path,
    sweep_path: Path,
    parts: tuple[str, ...],
    out: str,
    timeout_s: float | None,
    workers: int | None,
) -> None:
    """Backtest every variant of a sweep on the parts (default: TRADING_RUNTIME_PARTS_DIR), one
    results base per variant, as the Argo batch stores them; then rank them with `leaderboard`."""
    from trading_runtime.backtest.inputs import keyed_locations
    from trading_runtime.backtest.publish import backtest_and_publish
    from trading_runtime.backtest.staging import remove_own_staging, staging_base_for
    from trading_runtime.cli.signals import (
        Interrupted,
        exit_interrupted,
        signals_raise,
        stop_workers,
    )
    from trading_runtime.config import apply_overrides
    from trading_runtime.data.parts_store import part_location, scan_parts
    from trading_runtime.results import BacktestResult
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import StorageError
    from trading_runtime.sweeps.planning import check_partition_budget
    from trading_runtime.sweeps.stored import variant_results

    settings = load_settings()
    base, variants = _plan(config_path, sweep_path)
    if parts:
        locations: list[Any] = list(parts)
    else:
        keys = scan_parts(settings.parts_dir).keys
        locations = [part_location(settings.parts_dir, key) for key in keys]
    if not locations:
        raise click.ClickException(f"no part files given and none in {settings.parts_dir}")
    try:
        check_partition_budget(len(variants), len(locations))
        keyed = keyed_locations(locations)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sweeping {len(variants)} variant(s) x {len(keyed)} part(s) into {out}")
    failed = 0
    # SIGINT/SIGTERM as for `backtest`: workers killed, this process's staging removed, 130/143.
    with signals_raise():
        try:
            for index, variant in enumerate(variants, start=1):
                config = apply_overrides(base, variant.overrides, str(config_path))
                try:
                    outcomes = backtest_and_publish(
                        config,
                        keyed,
                        variant_results(out, variant),
                        timeout_s=timeout_s or settings.timeout_s,
                        startup_timeout_s=settings.startup_timeout_s,
                        workers=workers or settings.workers,
                    )
                except (ValueError, StorageError) as exc:
                    raise click.ClickException(str(exc)) from None
                done = sum(isinstance(o, BacktestResult) for o in outcomes.values())
                click.echo(
                    f"[{index}/{len(variants)}] {variant.key}: {done}/{len(outcomes)} part(s)"
                )
                for key, outcome in outcomes.items():
                    if not isinstance(outcome, BacktestResult):
                        failed += 1
                        echo_error(f"FAILED {variant.key} {key}: {outcome}")
        except Interrupted as exc:
            stop_workers(exc)
            for variant in variants:
                remove_own_staging(staging_base_for(variant_results(out, variant)))
            exit_interrupted(exc, "the variants already published stay; run it again for the rest")
    sys.exit(1 if failed else 0)


@click.command()
@_CONFIG
@_SWEEP
@click.option("--results", required=True, help="The sweep's results base (directory or URL).")
@click.option(
    "--metric",
    type=click.Choice(["mean", "sharpe"]),
    default="mean",
    show_default=True,
    help="What ranks the variants (and what CSCV and walk-forward select by): mean per-part PnL"
    " or the Sharpe ratio of the per-part PnL.",
)
@click.option(
    "--window",
    type=click.IntRange(min=1),
    default=None,
    help="Walk-forward: parts before each part that choose its variant. Default: 3, or one part"
    " fewer than the sweep has, so at least one part is scored out of sample.",
)
def leaderboard(
    config_path: Path, sweep_path: Path, results: str, metric: str, window: int | None
) -> None:
    """Rank a sweep's variants across parts from stored results (locally or in an object store),
    with how likely the winner is an overfit; writes leaderboard.parquet, leaderboard.json and
    three pictures into RESULTS."""
    from trading_runtime.results import ResultIntegrityError
    from trading_runtime.storage import StorageError, storage_error
    from trading_runtime.sweeps.ranking import rank_variants

    config, variants = _plan(config_path, sweep_path)
    try:
        ranked = rank_variants(
            results,
            config,
            variants,
            metric="sharpe" if metric == "sharpe" else "mean",
            window=window,
        )
    except OSError as exc:
        raise click.ClickException(str(storage_error(exc, "read"))) from None
    except (StorageError, ValueError, ResultIntegrityError) as exc:
        raise click.ClickException(str(exc)) from None
    if ranked is None:
        raise click.ClickException(
            f"no stored results of this sweep's variants under {results}/<variant id>/"
        )
    click.echo(ranked.text)
    files = ranked.files
    click.echo(f"table: {files.table}")
    for path in files.pictures.values():
        click.echo(f"chart: {path}")
