"""Jobs behind the README's main command and the UI's launchpad."""

from dagster import AssetSelection, define_asset_job

backtest_parts_job = define_asset_job(
    name="backtest_parts",
    selection=AssetSelection.assets("parts", "backtest_results"),
    description="Validate parts and backtest them (one partition, or a range in one run).",
)

aggregate_job = define_asset_job(
    name="aggregate",
    selection=AssetSelection.assets("aggregate_metrics"),
    description="Aggregate every stored backtest result into one table.",
)
