"""The benchmark's options (what ``cli`` parses) and the scenario names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIOS = ("floor", "backfill", "perpart", "cli", "aggregate", "defs", "engine")


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
    keep_work: bool
    quick: bool
    command: str
