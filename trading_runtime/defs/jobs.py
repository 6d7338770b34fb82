"""Jobs behind the README's main command and the UI's launchpad."""

from typing import Any

from dagster import AssetSelection, define_asset_job

__all__ = ["build_jobs"]


def build_jobs(backtest_run_tags: dict[str, Any] | None = None) -> list[Any]:
    """``backtest_run_tags`` reach the run launcher: on Kubernetes, the run pod's resources."""
    backtest_parts = define_asset_job(
        name="backtest_parts",
        selection=AssetSelection.assets("parts", "backtest_results"),
        description="Validate parts and backtest them (one partition, or a range in one run).",
        tags=backtest_run_tags or None,
    )
    aggregate = define_asset_job(
        name="aggregate",
        selection=AssetSelection.assets("aggregate_metrics"),
        description="Aggregate every stored backtest result into one table.",
    )
    convert_raw = define_asset_job(
        name="convert_raw",
        selection=AssetSelection.assets("raw_market_data"),
        description="Convert a raw group (a feed file, a Tardis symbol-day) into parts.",
    )
    return [backtest_parts, aggregate, convert_raw]
