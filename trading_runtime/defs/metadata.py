"""Metadata keys the assets write and the CLI reads back from a run's events, and the failure
that carries one partition's error under them."""

from dagster import Failure, MetadataValue

__all__ = ["CHART_PATH_METADATA", "FAILURES_METADATA", "partition_failure"]

# A failed step's error per part (a single-run backfill fails once for all its parts).
FAILURES_METADATA = "failures"
# The aggregate chart's path, printed by `trading-runtime materialize`.
CHART_PATH_METADATA = "chart_path"


def partition_failure(key: str, message: str) -> Failure:
    """One partition's failure: ``message`` for the UI, and per part for the CLI's one line."""
    return Failure(
        description=message,
        metadata={FAILURES_METADATA: MetadataValue.json({key: message})},
        allow_retries=False,
    )
