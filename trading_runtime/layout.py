"""Names every part of the runtime agrees on: files, directories, defaults, and the part key.

One layout wherever parts and results live (a directory or an object-store URL)::

    <parts>/<part>.npz
    <results>/backtest_results/<part>/result.json   (points to the current version)
    <results>/backtest_results/<part>/versions/<version>/
        {curve.parquet, stats.npz, [events.jsonl], result.json}
    <results>/aggregate_metrics.parquet
"""

from __future__ import annotations

from os import PathLike
from pathlib import PurePosixPath

__all__ = [
    "AGGREGATE_FILE",
    "CURVE_FILE",
    "DEFAULT_STARTUP_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "DOWNLOADS_DIR",
    "EVENT_LOG_FILE",
    "PART_SUFFIX",
    "RESULTS_DIR",
    "RESULT_FILE",
    "STAGING_DIR",
    "STAGING_OWNER_FILE",
    "STAGING_PREFIX",
    "STATS_FILE",
    "SUPERSEDED_GRACE_S",
    "VERSIONS_DIR",
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
# A partition's stored versions, each a complete result directory named by its content; the
# partition's ``result.json`` beside it names the current one (see ``storage.publish_result``).
VERSIONS_DIR = "versions"
# A superseded version stays this long for readers that followed the older pointer.
SUPERSEDED_GRACE_S = 600.0
# trading-platform's event log, when the framework ran.
EVENT_LOG_FILE = "events.jsonl"
# Local scratch, hidden (dot names are never parts or results): a run's output before it is
# published, under ``<results>/.staging/`` (Dagster) or ``<out>/.staging-*`` (the CLI), and
# parts downloaded from an object store inside it.
STAGING_DIR = ".staging"
STAGING_PREFIX = ".staging-"
# In every staging directory: the process that owns it. The next run removes a dead owner's.
STAGING_OWNER_FILE = ".owner"
DOWNLOADS_DIR = ".parts"
# Wall-clock limit of one part's backtest, seconds (settings, CLI and Argo default to it).
DEFAULT_TIMEOUT_S = 900.0
# Wall-clock limit of a task's preparation in its worker before the backtest clock starts:
# reading and validating the part, and compiling the strategy (numba) on a cold worker.
DEFAULT_STARTUP_TIMEOUT_S = 300.0


def part_key(location: str | PathLike[str]) -> str:
    """The partition key of a part file, path or URL: its name without ``.npz``."""
    return PurePosixPath(str(location)).name.removesuffix(PART_SUFFIX)


def part_file_name(key: str) -> str:
    return f"{key}{PART_SUFFIX}"
