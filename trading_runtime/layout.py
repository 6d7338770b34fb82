"""Names every part of the runtime agrees on: files, directories, defaults, and the part key.

One layout wherever parts and results live (a directory or an object-store URL)::

    <parts>/<part>.npz
    <results>/backtest_results/<part>/result.json   (points to the current version)
    <results>/backtest_results/<part>/versions/<version>/
        {curve.parquet, stats.npz, [events.jsonl], chart.png, result.json}
    <results>/backtest_results/.staging/            (results not yet published)
    <results>/aggregate_metrics.parquet
    <results>/aggregate_metrics.png
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path, PurePosixPath

__all__ = [
    "AGGREGATE_CHART_FILE",
    "AGGREGATE_FILE",
    "CHART_FILE",
    "CURVE_FILE",
    "DEFAULT_STARTUP_TIMEOUT_S",
    "DEFAULT_TIMEOUT_S",
    "DOWNLOADS_DIR",
    "ENGINE_STARTED_SUFFIX",
    "EVENT_LOG_FILE",
    "LINEAGE_DIR",
    "PART_KEY_MAX_LENGTH",
    "PART_KEY_RULE",
    "PART_SUFFIX",
    "RESULTS_DIR",
    "RESULT_FILE",
    "STAGING_DIR",
    "STAGING_OWNER_FILE",
    "STAGING_PREFIX",
    "STATS_FILE",
    "SUPERSEDED_GRACE_S",
    "VERSIONS_DIR",
    "PartNameError",
    "check_part_key",
    "engine_started_marker",
    "part_file_name",
    "part_key",
    "part_key_problem",
]

PART_SUFFIX = ".npz"
# Beside ingested parts: each part's lineage (the raw files and windows it came from).
LINEAGE_DIR = "lineage"
# The asset's name: Dagster's IO manager and the CLI store results under the same directory.
RESULTS_DIR = "backtest_results"
AGGREGATE_FILE = "aggregate_metrics.parquet"
# Charts (``charts``): a view of a result, listed in its ``result.json`` but outside its content
# hash; the aggregate's chart beside the aggregate table.
CHART_FILE = "chart.png"
AGGREGATE_CHART_FILE = "aggregate_metrics.png"
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
# Local scratch, hidden (dot names are never parts or results): a batch's output before it is
# published, in ``<partitions>/.staging/.staging-*/`` beside the partitions' directories on
# both paths (``<results>/backtest_results`` for Dagster, ``--out`` for the CLI), and parts
# downloaded from an object store inside it.
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


# A partition key becomes a directory name (locally and on object stores), an object key, a pod
# argument and a Dagster partition key, so only names that are safe in all of them are parts:
# no separators, never ``.``/``..`` or hidden, no option-like leading ``-``, no ``...`` (Dagster
# refuses it: its partition-range separator) nor any ``..``, within every file system's name limit.
PART_KEY_MAX_LENGTH = 128
PART_KEY_RULE = (
    f"1 to {PART_KEY_MAX_LENGTH} characters: letters, digits, '.', '_' or '-', starting with a"
    " letter, digit or '_', with no '..'"
)
_PART_KEY_CHARS = re.compile(r"[A-Za-z0-9._-]*")


class PartNameError(ValueError):
    """A part file name (or partition key) that breaks the part-name rule."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"part name {name!r} refused: {problem} (a part name has {PART_KEY_RULE})")
        self.name = name
        self.problem = problem


def part_key_problem(key: str) -> str | None:
    """Which part of the rule ``key`` breaks (``PART_KEY_RULE``); None for a valid key."""
    if not key:
        return "it is empty"
    if len(key) > PART_KEY_MAX_LENGTH:
        return f"it has {len(key)} characters, more than {PART_KEY_MAX_LENGTH}"
    if not _PART_KEY_CHARS.fullmatch(key):
        bad = sorted({c for c in key if not _PART_KEY_CHARS.fullmatch(c)})
        return f"it contains {', '.join(map(repr, bad))}"
    if key[0] in ".-":
        return f"it starts with {key[0]!r}"
    if ".." in key:
        return "it contains '..'"
    return None


def check_part_key(key: str) -> str:
    """``key`` itself when it is a valid part name, else ``PartNameError``."""
    problem = part_key_problem(key)
    if problem is not None:
        raise PartNameError(key, problem)
    return key


def part_key(location: str | PathLike[str]) -> str:
    """The partition key of a part file, path or URL: its name without ``.npz``. Never an
    unsafe key: ``PartNameError`` names the file and the rule it breaks."""
    name = PurePosixPath(str(location)).name
    problem = part_key_problem(name.removesuffix(PART_SUFFIX))
    if problem is not None:
        raise PartNameError(name, problem)
    return name.removesuffix(PART_SUFFIX)


def part_file_name(key: str) -> str:
    return f"{check_part_key(key)}{PART_SUFFIX}"


# An engine worker creates this file beside the task's output directory when the backtest clock
# starts: a worker killed by SIGALRM without it ran out of start-up time, with it out of backtest
# time.
ENGINE_STARTED_SUFFIX = ".engine-started"


def engine_started_marker(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(f".{out_dir.name}{ENGINE_STARTED_SUFFIX}")
