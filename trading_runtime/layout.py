"""Names every part of the runtime agrees on: files, directories, defaults, and the part key.

One layout wherever parts and results live (a directory or an object-store URL)::

    <parts>/<part>.npz
    <results>/backtest_results/<part>/{curve.parquet, stats.npz, [events.jsonl], result.json}
    <results>/aggregate_metrics.parquet
"""

from __future__ import annotations

from os import PathLike
from pathlib import PurePosixPath

__all__ = [
    "AGGREGATE_FILE",
    "CURVE_FILE",
    "DEFAULT_TIMEOUT_S",
    "DOWNLOADS_DIR",
    "EVENT_LOG_FILE",
    "PART_SUFFIX",
    "RESULTS_DIR",
    "RESULT_FILE",
    "STAGING_DIR",
    "STAGING_PREFIX",
    "STATS_FILE",
    "part_file_name",
    "part_key",
]

PART_SUFFIX = ".npz"
# The asset's name: Dagster's IO manager and the CLI store results under the same directory.
RESULTS_DIR = "backtest_results"
AGGREGATE_FILE = "aggregate_metrics.parquet"
# One result directory: metrics + provenance (written last), the curve, hftbacktest's record.
RESULT_FILE = "result.json"
CURVE_FILE = "curve.parquet"
STATS_FILE = "stats.npz"
# trading-platform's event log, when the framework ran.
EVENT_LOG_FILE = "events.jsonl"
# Local scratch, hidden (dot names are never parts or results): a run's output before it is
# published, under ``<results>/.staging/`` (Dagster) or ``<out>/.staging-*`` (the CLI), and
# parts downloaded from an object store inside it.
STAGING_DIR = ".staging"
STAGING_PREFIX = ".staging-"
DOWNLOADS_DIR = ".parts"
# Wall-clock limit of one part's backtest, seconds (settings, CLI and Argo default to it).
DEFAULT_TIMEOUT_S = 900.0


def part_key(location: str | PathLike[str]) -> str:
    """The partition key of a part file, path or URL: its name without ``.npz``."""
    return PurePosixPath(str(location)).name.removesuffix(PART_SUFFIX)


def part_file_name(key: str) -> str:
    return f"{key}{PART_SUFFIX}"
