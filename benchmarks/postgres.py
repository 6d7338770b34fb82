"""PostgreSQL for the benchmarks: a throw-away server started as the tests start it
(``scripts/postgres-test-server.sh``), a fresh database on it per Dagster instance, and the
``dagster.yaml`` that keeps an instance's runs, events and schedules there.

Used by the parent of the main benchmark (``harness``: one server for the backfills), by its
backfill children (``scenarios.common.fresh_instance``) and by ``storage_levers``. Only the
standard library at module level: child processes import this before their scenario runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres-test-server.sh"
URL_VARIABLE = "TRADING_RUNTIME_TEST_POSTGRES_URL"  # what the script writes into DIR/env
START_TIMEOUT_S = 600.0  # the script may install Debian's postgresql first
STOP_TIMEOUT_S = 120.0


class ServerUnavailable(RuntimeError):
    """The throw-away server could not start; the message says why, in a line or two."""


@dataclass(frozen=True)
class Server:
    admin_url: str  # a role that may create databases
    version: str  # "15.8", or "" when the script did not say


@contextmanager
def throwaway_postgres(prefix: str = "bench-postgres-") -> Iterator[Server]:
    """A PostgreSQL server for a run's databases, stopped and removed afterwards (also when the
    start fails half way, or on KeyboardInterrupt); ``ServerUnavailable`` if it cannot start.
    Its directory is a top-level temporary one, as in ``.ci/run``: the server's own user must
    reach it."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        try:
            started = subprocess.run(
                [str(SCRIPT), "start", str(directory)],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            text = str(exc).replace(str(directory), "DIR")
            raise ServerUnavailable(f"{SCRIPT.name} start: {text}") from exc
        if started.returncode != 0:
            raise ServerUnavailable(_why(started).replace(str(directory), "DIR"))
        env = dict(
            line.split("=", 1) for line in (directory / "env").read_text().splitlines() if line
        )
        found = re.search(r"PostgreSQL (\S+) on", started.stdout)
        yield Server(env[URL_VARIABLE], found.group(1) if found else "")
    finally:
        subprocess.run(
            [str(SCRIPT), "stop", str(directory)],
            check=False,
            capture_output=True,
            timeout=STOP_TIMEOUT_S,
        )
        shutil.rmtree(directory, ignore_errors=True)  # the script removes it; if it did not start


def _why(started: subprocess.CompletedProcess[str]) -> str:
    """The script's error lines (it says ``error: ...``), else its last two lines."""
    lines = [line.strip() for line in started.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")] or lines[-2:]
    text = " / ".join(errors) or f"exited {started.returncode} without a message"
    return f"{SCRIPT.name} start failed: {text}"


def create_database(admin_url: str, label: str) -> str:
    """A new, empty database on the server of ``admin_url`` (a unique name from ``label``);
    its URL."""
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    name = f"bench_{re.sub(r'[^a-z0-9_]', '_', label.lower())}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(admin_url, connect_timeout=10)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    return str(make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def dagster_yaml(postgres_url: str | None = None, **extra: Any) -> str:
    """An instance's ``dagster.yaml``: Dagster's defaults (SQLite in ``DAGSTER_HOME``; what
    ``make run`` creates, an empty file) or every storage on ``postgres_url``; plus ``extra``
    top-level sections."""
    import yaml

    config: dict[str, Any] = dict(extra)
    if postgres_url is not None:
        config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    return yaml.safe_dump(config) if config else ""


def hide_password(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` in it replaced by ***."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
