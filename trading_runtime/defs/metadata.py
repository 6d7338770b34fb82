"""Metadata keys the assets write and the CLI reads back from a run's events."""

__all__ = ["CHART_PATH_METADATA", "FAILURES_METADATA"]

# A failed step's error per part (a single-run backfill fails once for all its parts).
FAILURES_METADATA = "failures"
# The aggregate chart's path, printed by `trading-runtime materialize`.
CHART_PATH_METADATA = "chart_path"
