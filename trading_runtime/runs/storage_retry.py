"""Instance storage outages: which errors may pass (the server down or restarting, SQLite's
lock), where the storage is (host and port, never a password), and a bounded exponential backoff
around the first contact with it.

dagster-postgres already retries each connection (5 times over about 11 s, fixed in its code, not
configurable) and SQLite waits up to 30 s for a lock (Dagster's busy timeout): those cover a blip
in the middle of a command. What they do not do is wait longer for a server that is restarting
when a command starts, or end in one line; ``retry_storage`` does both, its window being
``TRADING_RUNTIME_STORAGE_RETRY_S``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import sqlalchemy.exc
import yaml
from sqlalchemy.engine import make_url

__all__ = [
    "STORAGE_RETRY_ENV",
    "StorageUnreachableError",
    "backoff_delays",
    "postgres_url",
    "retry_storage",
    "storage_location",
    "transient_reason",
    "unreachable_message",
]

T = TypeVar("T")

STORAGE_RETRY_ENV = "TRADING_RUNTIME_STORAGE_RETRY_S"
# Doubling waits from FIRST_DELAY_S, none longer than MAX_DELAY_S: a restart that takes a second
# costs about a second, a longer one is polled every few seconds.
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0
POSTGRES_DEFAULT_PORT = 5432

# Error texts (libpq's, the server's, SQLite's) of outages that may pass. Anything else (a wrong
# password, a missing database, a bad query) fails at once: waiting cannot mend it.
TRANSIENT_MARKERS = (
    "connection refused",
    "could not connect",
    "connection timed out",
    "timeout expired",
    "server closed the connection unexpectedly",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "terminating connection due to administrator command",
    "too many clients",
    "no route to host",
    "network is unreachable",
    "temporary failure in name resolution",
    "database is locked",
)
_OPERATIONAL = (
    sqlalchemy.exc.OperationalError,
    psycopg2.OperationalError,
    sqlite3.OperationalError,
)


class StorageUnreachableError(RuntimeError):
    """The instance storage stayed unreachable through the retry window; one line naming where
    it is (host and port, or the SQLite directory) and the last error."""


def backoff_delays(
    window_s: float, first_s: float = FIRST_DELAY_S, cap_s: float = MAX_DELAY_S
) -> list[float]:
    """The waits between attempts: doubling from ``first_s``, each at most ``cap_s``, summing to
    ``window_s`` (the last one cut to fit). No window, no retry."""
    delays: list[float] = []
    total = 0.0
    delay = first_s
    while window_s - total > 1e-9:  # float sums: no sliver of a last wait
        step = min(delay, cap_s, window_s - total)
        delays.append(step)
        total += step
        delay *= 2
    return delays


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (dagster-postgres wraps the driver's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transient_reason(exc: BaseException) -> str | None:
    """The first line of the driver's message when ``exc`` (or what it came from) is an outage
    that may pass; None for anything else."""
    for error in _chain(exc):
        if not isinstance(error, _OPERATIONAL):
            continue
        # SQLAlchemy's text adds the statement and a help link; the driver's is the cause.
        text = str(getattr(error, "orig", None) or error)
        if any(marker in text.lower() for marker in TRANSIENT_MARKERS):
            first = next((line.strip() for line in text.splitlines() if line.strip()), text)
            return " ".join(first.split())
    return None


def _resolved(value: Any) -> Any:
    """A dagster.yaml value, ``{env: NAME}`` read from the environment (as Dagster does)."""
    if isinstance(value, Mapping) and set(value) == {"env"}:
        return os.environ.get(str(value["env"]), "")
    return value


def _postgres_config(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The PostgreSQL section of a dagster.yaml: ``storage.postgres``, or a legacy
    ``run_storage`` (or event log, schedule) section of dagster-postgres."""
    storage = config.get("storage")
    if isinstance(storage, Mapping) and isinstance(storage.get("postgres"), Mapping):
        return storage["postgres"]
    for key in ("run_storage", "event_log_storage", "schedule_storage"):
        section = config.get(key)
        if isinstance(section, Mapping) and str(section.get("module", "")).startswith(
            "dagster_postgres"
        ):
            inner = section.get("config")
            return inner if isinstance(inner, Mapping) else None
    return None


def _load(file: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(file.read_text()) if file.exists() else None
    except (OSError, yaml.YAMLError):
        return {}  # opening the instance names the problem
    return loaded if isinstance(loaded, Mapping) else {}


def storage_location(file: Path, url: str | None = None) -> str:
    """Where the instance of ``file`` (a dagster.yaml) keeps its runs and events: ``host:port``
    of its PostgreSQL server, else the SQLite directory beside it. Never a password. ``url``:
    what ``postgres_url`` built from the same file, when it could (then the file is not read)."""
    if url is None:
        section = _postgres_config(_load(file))
        if section is None:
            return str(file.parent)
        url = _resolved(section.get("postgres_url")) or None
        if url is None:  # postgres_db with a token (auth_provider): its host and port as given
            db = section.get("postgres_db")
            db = db if isinstance(db, Mapping) else {}
            host = _resolved(db.get("hostname")) or "localhost"
            return f"{host}:{_resolved(db.get('port')) or POSTGRES_DEFAULT_PORT}"
    try:
        parsed = make_url(str(url))
    except Exception:  # a malformed URL: opening the instance names it
        return "PostgreSQL (unparsable postgres_url)"
    return f"{parsed.host or 'localhost'}:{parsed.port or POSTGRES_DEFAULT_PORT}"


def postgres_url(file: Path) -> str | None:
    """The connection URL dagster-postgres builds from ``file``, to probe the server with; None
    for SQLite or a token (``auth_provider``) configuration. Holds the password: never print it."""
    from dagster_postgres.utils import pg_url_from_config

    section = _postgres_config(_load(file))
    if section is None or section.get("auth_provider") is not None:
        return None
    resolved: dict[str, Any] = {}
    for key, value in section.items():
        if isinstance(value, Mapping) and key == "postgres_db":
            resolved[key] = {k: _resolved(v) for k, v in value.items()}
        else:
            resolved[key] = _resolved(value)
    try:
        return str(pg_url_from_config(resolved))
    except Exception:  # an incomplete section: opening the instance names it
        return None


def unreachable_message(where: str, reason: str) -> str:
    """The one line of an outage (``reason``: libpq's or SQLite's first line, no password)."""
    return f"instance storage at {where} unreachable: {reason}"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def retry_storage(
    attempt: Callable[[], T],
    where: str,
    window_s: float,
    *,
    log: Callable[[str], None] = _stderr,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``attempt()``, again after each outage (``transient_reason``) with the waits of
    ``backoff_delays(window_s)``, one line logged per retry; ``StorageUnreachableError`` when the
    last attempt fails too. Other errors propagate at once."""
    delays = backoff_delays(window_s)
    attempts = len(delays) + 1
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except Exception as exc:
            reason = transient_reason(exc)
            if reason is None:
                raise
            if number == attempts:
                waited = sum(delays)
                raise StorageUnreachableError(
                    unreachable_message(where, reason)
                    + f" (after {attempts} attempt(s) over {waited:g} s; {STORAGE_RETRY_ENV})"
                ) from None
            delay = delays[number - 1]
            log(
                f"instance storage at {where} unreachable, retrying in {delay:g} s"
                f" (attempt {number}/{attempts})"
            )
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
