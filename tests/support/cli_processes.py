"""`trading-runtime` run as a user runs it: a fresh process on a private instance, parts and
results (the environment), and what it leaves behind (children, runs)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
# What `make run` writes that matters here: with Dagster's telemetry on, its helper process
# (in the command's process group) prints its own KeyboardInterrupt on Ctrl-C.
DAGSTER_YAML = "telemetry:\n  enabled: false\n"
MATERIALIZE = [sys.executable, "-m", "trading_runtime", "materialize"]


def cli_env(tmp_path: Path, parts: list[Path], *, home: Path | None = None) -> dict[str, str]:
    """The environment of a CLI process working in ``tmp_path``: ``parts`` copied into
    ``tmp_path/parts``, results in ``tmp_path/results``, the instance in ``home`` (default
    ``tmp_path/home``, with telemetry off as `make run` writes it). The tests' strategies
    (``support.strategies_for_tests``) are importable."""
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir(exist_ok=True)
    for part in parts:
        shutil.copy2(part, parts_dir / part.name)
    home = home or tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
        "TRADING_RUNTIME_WORKERS": "1",
    }


def process_stats() -> Iterator[tuple[int, list[str]]]:
    """Every process's pid and the fields of its ``/proc/<pid>/stat`` after the command name:
    state, parent, process group, ..."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it exited meanwhile
        yield int(stat.parent.name), fields


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [child for child, fields in process_stats() if int(fields[1]) == pid]


def running(pid: int) -> bool:
    """``pid`` is a process that has not exited (a zombie has: only its parent's wait is due)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def alembic_heads(home: Path) -> dict[str, int]:
    """Rows of ``alembic_version`` in every SQLite database of an instance, by relative path."""
    heads = {}
    for db in sorted(home.rglob("*.db")):
        with sqlite3.connect(db) as connection:
            tables = connection.execute(
                "select name from sqlite_master where name = 'alembic_version'"
            ).fetchall()
            if tables:
                rows = connection.execute("select count(*) from alembic_version").fetchone()
                heads[str(db.relative_to(home))] = int(rows[0])
    return heads
