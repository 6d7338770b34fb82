"""The benchmark's options (what ``cli`` parses), the scenario names and the instance storages
the backfill runs on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIOS = ("floor", "backfill", "perpart", "cli", "aggregate", "defs", "engine")
# The Dagster instance storages of the single-run backfill (scenario 2), in report order.
STORAGES = ("sqlite", "postgres")
STORAGE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass
class Options:
    parts: int
    events: int
    repeats: int
    workers: int
    seed: int
    many: int
    cli_sample: int
    large_events: int
    cache_dir: Path
    output: Path | None
    child_timeout: float
    task_timeout: float
    wait_idle: float
    profile: bool
    only: set[str]
    storages: tuple[str, ...]
    postgres_url: str | None  # an existing server (admin URL) instead of a throw-away one
    keep_work: bool
    quick: bool
    command: str
