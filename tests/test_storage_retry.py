"""A transient instance storage outage is retried with bounded backoff before the command fails
with one line naming the storage's host and port (never a password): the backoff helper with a
fake sleep, the errors it counts as outages, where the storage is, the setting, and end to end
`materialize` against a PostgreSQL server of the test's own, stopped and started again."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy.exc
import yaml
from dagster_postgres.utils import DagsterPostgresException
from support.postgres_outage import OutageServer

from trading_runtime.runs.storage_retry import (
    STORAGE_RETRY_ENV,
    StorageUnreachableError,
    backoff_delays,
    retry_storage,
    storage_location,
    transient_reason,
)
from trading_runtime.settings import SettingsError, load_settings

REFUSED = (
    'connection to server at "10.0.0.7", port 5433 failed: Connection refused\n'
    "\tIs the server running on that host and accepting TCP/IP connections?\n"
)
# Bound on a `materialize` process: start-up, numba compilation and one small part's run.
PROCESS_TIMEOUT_S = 240


def _sqlalchemy_error(message: str) -> sqlalchemy.exc.OperationalError:
    """What SQLAlchemy raises for a driver's error (its text adds the statement and a link)."""
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(message))


def test_backoff_doubles_is_capped_and_fills_the_window_exactly() -> None:
    assert backoff_delays(30) == [0.5, 1, 2, 4, 8, 8, 6.5]
    assert backoff_delays(3) == [0.5, 1, 1.5]
    assert backoff_delays(0.2) == [0.2]
    assert backoff_delays(0) == []  # no window: one attempt, no retry
    assert sum(backoff_delays(3600)) == pytest.approx(3600)
    assert max(backoff_delays(3600)) == 8


class _Flaky:
    """Fails ``failures`` times with ``error``, then returns "opened"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "opened"


def test_an_outage_that_passes_within_the_window_is_retried_with_one_line_each() -> None:
    slept: list[float] = []
    logged: list[str] = []
    attempt = _Flaky(2, _sqlalchemy_error(REFUSED))
    result = retry_storage(attempt, "10.0.0.7:5433", 3, log=logged.append, sleep=slept.append)
    assert result == "opened" and attempt.calls == 3
    assert slept == [0.5, 1]
    assert logged == [
        "instance storage at 10.0.0.7:5433 unreachable, retrying in 0.5 s (attempt 1/4)",
        "instance storage at 10.0.0.7:5433 unreachable, retrying in 1 s (attempt 2/4)",
    ]


def test_an_outage_past_the_window_ends_in_one_line() -> None:
    slept: list[float] = []
    logged: list[str] = []
    attempt = _Flaky(100, _sqlalchemy_error(REFUSED))
    with pytest.raises(StorageUnreachableError) as raised:
        retry_storage(attempt, "10.0.0.7:5433", 3, log=logged.append, sleep=slept.append)
    assert attempt.calls == 4 and slept == [0.5, 1, 1.5] and len(logged) == 3
    assert str(raised.value) == (
        "instance storage at 10.0.0.7:5433 unreachable: connection to server at"
        ' "10.0.0.7", port 5433 failed: Connection refused'
        f" (after 4 attempt(s) over 3 s; {STORAGE_RETRY_ENV})"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_no_window_means_one_attempt() -> None:
    slept: list[float] = []
    attempt = _Flaky(1, _sqlalchemy_error(REFUSED))
    with pytest.raises(StorageUnreachableError, match=r"after 1 attempt\(s\) over 0 s"):
        retry_storage(attempt, "h:1", 0, log=lambda _: None, sleep=slept.append)
    assert attempt.calls == 1 and slept == []


@pytest.mark.parametrize(
    "error",
    [
        _sqlalchemy_error('FATAL:  password authentication failed for user "dagster"'),
        _sqlalchemy_error('FATAL:  database "dagster" does not exist'),
        sqlalchemy.exc.ProgrammingError("SELECT 1", {}, Exception("relation does not exist")),
        ValueError("a bug"),
    ],
)
def test_other_errors_propagate_at_once(error: Exception) -> None:
    slept: list[float] = []
    attempt = _Flaky(1, error)
    with pytest.raises(type(error)):
        retry_storage(attempt, "h:1", 30, log=lambda _: None, sleep=slept.append)
    assert attempt.calls == 1 and slept == []


def _locked_sqlite_error(tmp_path: Path) -> sqlite3.OperationalError:
    """A real "database is locked": a second connection writing past another's write lock."""
    path = tmp_path / "runs.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        other.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("the second writer was not refused")


def test_outages_are_told_from_other_errors(tmp_path: Path) -> None:
    expected = 'connection to server at "10.0.0.7", port 5433 failed: Connection refused'
    assert transient_reason(_sqlalchemy_error(REFUSED)) == expected
    # dagster-postgres gives up after its own retries with an error raised from the driver's.
    try:
        raise DagsterPostgresException("too many retries") from _sqlalchemy_error(REFUSED)
    except DagsterPostgresException as exc:
        assert transient_reason(exc) == expected
    starting = "FATAL:  the database system is starting up"
    assert transient_reason(_sqlalchemy_error(starting)) == " ".join(starting.split())
    assert transient_reason(_locked_sqlite_error(tmp_path)) == "database is locked"
    assert transient_reason(_sqlalchemy_error("FATAL:  password authentication failed")) is None
    assert transient_reason(ValueError("connection refused")) is None  # not a database error


def _yaml(tmp_path: Path, document: object) -> Path:
    file = tmp_path / "dagster.yaml"
    file.write_text(yaml.safe_dump(document))
    return file


def test_storage_location_names_host_and_port_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://dagster:s3cret@db.example:6543/dagster"
    file = _yaml(tmp_path, {"storage": {"postgres": {"postgres_url": url}}})
    assert storage_location(file) == "db.example:6543"
    monkeypatch.setenv("PG_HOST", "postgresql.dagster.svc")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "s3cret")
    db = {
        "hostname": {"env": "PG_HOST"},
        "username": "dagster",
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": "dagster",
    }
    file = _yaml(tmp_path, {"storage": {"postgres": {"postgres_db": db}}})
    assert storage_location(file) == "postgresql.dagster.svc:5432"
    legacy = {"module": "dagster_postgres.run_storage", "class": "PostgresRunStorage"}
    file = _yaml(tmp_path, {"run_storage": {**legacy, "config": {"postgres_url": url}}})
    assert storage_location(file) == "db.example:6543"
    file = _yaml(tmp_path, {"telemetry": {"enabled": False}})  # SQLite: the home directory
    assert storage_location(file) == str(tmp_path)
    assert storage_location(tmp_path / "missing.yaml") == str(tmp_path)


@pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan", "3601"])
def test_a_bad_retry_window_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({STORAGE_RETRY_ENV: value})
    message = str(raised.value)
    assert STORAGE_RETRY_ENV in message and repr(value) in message and "\n" not in message
    assert load_settings({STORAGE_RETRY_ENV: "2.5"}).storage_retry_s == 2.5
    assert load_settings({}).storage_retry_s == 30


def _materialize(
    tmp_path: Path, server: OutageServer, part: Path, window_s: float, stderr_file: Path
) -> subprocess.Popen[str]:
    """`materialize` of one part on an instance stored in ``server``'s database."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    instance = {"storage": {"postgres": {"postgres_url": server.url}}}
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({**instance, "telemetry": {"enabled": False}})
    )
    parts = tmp_path / "parts"
    parts.mkdir(exist_ok=True)
    shutil.copy2(part, parts / part.name)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TRADING_RUNTIME_", "PG"))}
    environ.update(
        DAGSTER_HOME=str(home),
        TRADING_RUNTIME_STRATEGY_MODULES=os.environ["TRADING_RUNTIME_STRATEGY_MODULES"],
        TRADING_RUNTIME_PARTS_DIR=str(parts),
        TRADING_RUNTIME_RESULTS=str(tmp_path / "results"),
        TRADING_RUNTIME_WORKERS="1",
        TRADING_RUNTIME_TIMEOUT_S="120",
        **{STORAGE_RETRY_ENV: str(window_s)},
    )
    with stderr_file.open("w") as stderr:  # a file: the test reads it while the command runs
        return subprocess.Popen(
            [sys.executable, "-m", "trading_runtime", "materialize"],
            cwd=tmp_path,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _finish(process: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        stdout, _ = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return stdout


def test_an_outage_longer_than_the_window_fails_in_one_line(
    tmp_path: Path, outage_server: OutageServer, generated_parts: list[Path]
) -> None:
    outage_server.stop()
    try:
        stderr_file = tmp_path / "stderr"
        started = time.monotonic()
        process = _materialize(tmp_path, outage_server, generated_parts[0], 2, stderr_file)
        stdout = _finish(process, PROCESS_TIMEOUT_S)
        elapsed = time.monotonic() - started
    finally:
        outage_server.start()
    stderr = stderr_file.read_text()
    retries = [line for line in stderr.splitlines() if "retrying in" in line]
    errors = [line for line in stderr.splitlines() if line and line not in retries]
    assert process.returncode == 1, stderr
    assert len(retries) == 3, stderr  # waits 0.5, 1 and 0.5 s: the 2 s window
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"Error: instance storage at {outage_server.address} unreachable")
    assert "Connection refused" in errors[0]
    assert outage_server.env["PGPASSWORD"] not in stdout + stderr
    print(f"failed after {elapsed:.1f} s (2 s window)")


def test_an_outage_within_the_window_is_waited_out(
    tmp_path: Path, outage_server: OutageServer, generated_parts: list[Path]
) -> None:
    outage_server.stop()
    stderr_file = tmp_path / "stderr"
    process = _materialize(tmp_path, outage_server, generated_parts[0], 60, stderr_file)
    try:
        # The server comes back once the command has retried three times (0.5 + 1 + 2 s).
        deadline = time.monotonic() + PROCESS_TIMEOUT_S / 2
        while "(attempt 3/" not in stderr_file.read_text():
            assert process.poll() is None, stderr_file.read_text()
            assert time.monotonic() < deadline, "no retry line"
            time.sleep(0.2)
    finally:
        outage_server.start()
    stdout = _finish(process, PROCESS_TIMEOUT_S)
    stderr = stderr_file.read_text()
    assert process.returncode == 0, f"{stdout[-2000:]}\n{stderr[-3000:]}"
    retry = f"instance storage at {outage_server.address} unreachable, retrying in"
    lines = [line for line in stderr.splitlines() if line]
    # At least the 3 waited for; more when the server's start is slow (a loaded machine): the
    # next retries come 2 s and 6 s later. Nothing but retry lines either way.
    assert len(lines) >= 3 and all(line.startswith(retry) for line in lines), stderr
    assert f"[1/1] ok     {generated_parts[0].stem}" in stdout
    assert outage_server.env["PGPASSWORD"] not in stdout + stderr
