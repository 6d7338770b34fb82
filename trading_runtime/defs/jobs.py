"""Jobs behind the README's main command and the UI's launchpad. One job per partitioning: a
Dagster run covers one partition (or range) of one partitions definition, so parts (per part)
and backtests (per part x variant) are separate jobs."""

from typing import Any

from dagster import AssetSelection, define_asset_job

__all__ = ["BACKTEST_JOB", "CONVERT_JOB", "VALIDATE_JOB", "build_jobs"]

VALIDATE_JOB = "validate_parts"
BACKTEST_JOB = "backtest_parts"
CONVERT_JOB = "convert_raw"


def build_jobs(backtest_run_tags: dict[str, Any] | None = None) -> list[Any]:
    """``backtest_run_tags`` reach the run launcher: on Kubernetes, the run pod's resources."""
    validate_parts = define_asset_job(
        name=VALIDATE_JOB,
        selection=AssetSelection.assets("parts"),
        description="Validate parts (one partition, or a range in one run).",
    )
    backtest_parts = define_asset_job(
        name=BACKTEST_JOB,
        selection=AssetSelection.assets("backtest_results"),
        description="Backtest parts, per part x variant (one partition, or a range in one run).",
        tags=backtest_run_tags or None,
    )
    aggregate = define_asset_job(
        name="aggregate",
        selection=AssetSelection.assets("aggregate_metrics", "sweep_leaderboard"),
        description="Aggregate the base config's results and rank the sweep files' variants.",
    )
    convert_raw = define_asset_job(
        name=CONVERT_JOB,
        selection=AssetSelection.assets("raw_market_data"),
        description="Convert a raw group (a feed file, a Tardis symbol-day) into parts.",
    )
    return [validate_parts, backtest_parts, aggregate, convert_raw]
