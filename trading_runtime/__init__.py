"""trading-runtime: Dagster orchestration for deterministic trading backtests."""

__version__ = "0.3.0"
