"""`trading-runtime`: backtests without Dagster, data generation, sweeps and their leaderboard,
the main local job, and Argo batches. Each command group lives in its own module and imports its
heavy parts when it runs."""

from __future__ import annotations

import os
from typing import Any

import click

from trading_runtime.cli.argo import argo
from trading_runtime.cli.backtest import aggregate, backtest
from trading_runtime.cli.data import data
from trading_runtime.cli.materialize import materialize
from trading_runtime.cli.migrate import migrate_instance
from trading_runtime.cli.sweep import leaderboard, sweep
from trading_runtime.config import example_config_path

__all__ = ["main"]


class _Main(click.Group):
    """The command group: a bad ``TRADING_RUNTIME_*`` setting, whichever command reads it, ends
    the command with one line naming the variable (``settings.SettingsError``); an instance
    storage that stays unreachable, with one line naming its host and port."""

    def invoke(self, ctx: click.Context) -> Any:
        from trading_runtime.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            message = _storage_outage(exc)
            if message is None:
                raise
            raise click.ClickException(message) from None


def _storage_outage(exc: Exception) -> str | None:
    """One line for an instance storage outage: past the retry window at start-up, or in the
    middle of a command once Dagster's own retries gave up; None for any other error."""
    from trading_runtime.runs.storage_retry import (
        StorageUnreachableError,
        storage_location,
        transient_reason,
        unreachable_message,
    )

    if isinstance(exc, StorageUnreachableError):
        return str(exc)
    reason = transient_reason(exc)
    if reason is None:
        return None
    from trading_runtime.runs.instance import dagster_home

    return unreachable_message(storage_location(dagster_home() / "dagster.yaml"), reason)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trading-runtime")
def main() -> None:
    """Deterministic trading backtests: parts in, per-part results and aggregate metrics out."""


@main.command("example-config")
@click.option(
    "--adapter",
    type=click.Choice(["hftbacktest", "trading-platform"]),
    default="hftbacktest",
    show_default=True,
)
def example_config(adapter: str) -> None:
    """Print the path of a packaged example config."""
    click.echo(str(example_config_path(adapter)))


@main.command()
def info() -> None:
    """Print this installation's runtime version, image commit and framework."""
    from importlib import metadata

    from trading_runtime.pins import framework_status
    from trading_runtime.results import RUNTIME_GIT_COMMIT_ENV

    click.echo(f"trading-runtime {metadata.version('trading-runtime')}")
    click.echo(f"commit: {os.environ.get(RUNTIME_GIT_COMMIT_ENV) or 'n/a (not an image)'}")
    click.echo(f"framework: {framework_status()}")


for command in (data, backtest, aggregate, sweep, leaderboard, materialize, migrate_instance, argo):
    main.add_command(command)
