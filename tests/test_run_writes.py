"""How runs write to the instance (``runs.run_writes``): kept PostgreSQL connections and batched
event writes, in the run's own process, with nothing the UI shows lost.

The PostgreSQL test needs the test server (see tests/test_postgres.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import AssetKey, DagsterInstance
from sqlalchemy import event
from sqlalchemy.pool import NullPool, Pool, QueuePool

from trading_runtime.data.parts_store import list_part_keys, part_location
from trading_runtime.defs import build_definitions
from trading_runtime.runs.instance import partition_statuses, register_parts
from trading_runtime.runs.launch import failure_messages, run_partition_range
from trading_runtime.runs.run_writes import (
    EVENT_BATCH_SIZE,
    keep_sqlite_connections,
    pool_storage_connections,
    prepare_run_writes,
)
from trading_runtime.settings import RuntimeSettings


@pytest.fixture
def connects() -> Iterator[list[Any]]:
    """Every new DBAPI connection any SQLAlchemy pool opens while the test runs."""
    opened: list[Any] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        opened.append(dbapi_connection)

    event.listen(Pool, "connect", on_connect)
    yield opened
    event.remove(Pool, "connect", on_connect)


def _storages(instance: DagsterInstance) -> list[Any]:
    return [instance.run_storage, instance.event_log_storage, instance.schedule_storage]


def _postgres_instance(tmp_path: Path, database_url: str) -> DagsterInstance:
    """The instance as Dagster opens it (in a run pod, say): nothing of ours applied yet."""
    home = tmp_path / "home"
    home.mkdir()
    config = {"storage": {"postgres": {"postgres_url": database_url}}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_config(str(home))


def test_a_run_on_postgres_writes_over_kept_connections_in_batches(
    tmp_path: Path,
    database_url: str,
    settings: RuntimeSettings,
    connects: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An instance opened as Dagster opens it in a run pod (one connection per write); the run's
    ``backtest_runner`` resource switches it to kept connections when the run's first step
    starts, and the rest of the run opens only a handful, where before every one of its
    events opened its own."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    instance = _postgres_instance(tmp_path, database_url)
    try:
        assert all(isinstance(s._engine.pool, NullPool) for s in _storages(instance))
        keys = list_part_keys(settings.parts_dir)
        register_parts(instance, keys)
        defs = build_definitions(settings)
        validated = run_partition_range(defs.resolve_job_def("validate_parts"), instance, keys)
        assert validated.success, failure_messages(validated)
        assert all(isinstance(s._engine.pool, QueuePool) for s in _storages(instance))
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
        del connects[:]
        backtest = defs.resolve_job_def("backtest_parts")
        backfill = run_partition_range(backtest, instance, [f"{k}|base" for k in keys])
        assert backfill.success, failure_messages(backfill)
        written = len(instance.all_logs(backfill.run_id))
        # Run creation, its events and the reads around them; each once a connection before.
        assert written >= 20
        assert len(connects) <= 6, (len(connects), written)
        # Every partition's materialization is stored (the batch reached the server).
        records = instance.fetch_materializations(AssetKey("backtest_results"), limit=100).records
        assert sorted(r.partition_key for r in records) == sorted(f"{k}|base" for k in keys)
        assert pool_storage_connections(instance) == 0  # once per instance
    finally:
        instance.dispose()


def test_sqlite_storages_get_no_postgres_pool_and_a_set_batch_size_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "0")  # the user's choice: no batches
    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    try:
        prepare_run_writes(instance)
        assert pool_storage_connections(instance) == 0
    finally:
        instance.dispose()
    assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == "0"


def test_a_sqlite_backfill_keeps_connections_and_still_shows_what_failed(
    tmp_path: Path,
    settings: RuntimeSettings,
    connects: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default instance (SQLite files in DAGSTER_HOME): a run's event writes reuse a kept
    connection per file, batches are on, and a failed backfill's partitions still read as
    failed, in this process and in another instance (the webserver's view)."""
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = DagsterInstance.from_config(str(home))
    other = DagsterInstance.from_config(str(home))
    try:
        keys = list_part_keys(settings.parts_dir)
        register_parts(instance, keys)
        defs = build_definitions(settings)
        validated = run_partition_range(defs.resolve_job_def("validate_parts"), instance, keys)
        assert validated.success, failure_messages(validated)
        assert keep_sqlite_connections(instance) == 0  # the run's resource did it
        assert os.environ["DAGSTER_EVENT_BATCH_SIZE"] == str(EVENT_BATCH_SIZE)
        # A part gone after its validation fails its backtest, and with it the whole step.
        part = Path(part_location(settings.parts_dir, keys[1]).path)
        aside = part.rename(tmp_path / "aside.npz")
        backtest = defs.resolve_job_def("backtest_parts")
        result_keys = [f"{k}|base" for k in keys]
        del connects[:]
        failed = run_partition_range(backtest, instance, result_keys)
        assert not failed.success
        written = len(instance.all_logs(failed.run_id))
        # Each write opened its own connection before, several for some (42 in all here).
        assert written >= 10
        assert len(connects) <= 6, (len(connects), written)
        assert partition_statuses(instance, keys).failed == set(keys)
        assert partition_statuses(other, keys).failed == set(keys)
        aside.rename(part)
        backfill = run_partition_range(backtest, instance, result_keys)
        assert backfill.success, failure_messages(backfill)
        assert partition_statuses(other, keys).materialized == set(keys)
        assert not partition_statuses(other, keys).failed
    finally:
        instance.dispose()
        other.dispose()


def test_a_sqlite_read_left_unfinished_never_makes_the_next_write_stale(tmp_path: Path) -> None:
    """A reader that leaves its result unfinished (stopped at its first row) while the daemon
    or the webserver writes the same file. Were the kept connection to keep that statement, its
    WAL snapshot would outlive the use: the next read would miss the other process's row and the
    next write fail at once with "database is locked". Closing the use's cursors at checkin
    keeps both current, and the unfinished result behaves as it did over a connection per use:
    reading on fails."""
    from dagster._core.storage.runs.schema import RunsTable
    from dagster._core.test_utils import create_run_for_test
    from sqlalchemy import select

    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = DagsterInstance.from_config(str(home))
    other = DagsterInstance.from_config(str(home))  # the daemon's view: Dagster's own connects
    try:
        assert keep_sqlite_connections(instance) == 3
        for _ in range(3):  # the reader stops at the first of several rows
            create_run_for_test(instance, job_name="first")
        unfinished = []
        with instance.run_storage.connect() as conn:  # type: ignore[attr-defined]
            result = conn.execute(select(RunsTable.c.run_id))
            assert result.fetchone() is not None
            unfinished.append(result)  # still referenced, its statement not reset
        with pytest.raises(Exception, match="closed"):
            unfinished[0].fetchone()
        create_run_for_test(other, job_name="by_the_daemon")
        assert {run.job_name for run in instance.get_runs()} == {"first", "by_the_daemon"}
        create_run_for_test(instance, job_name="second")
        assert len(other.get_runs()) == 5
        # The event log's index likewise: a read left open there, then materializations
        # reported from both sides.
        from dagster import AssetMaterialization
        from dagster._core.storage.event_log.schema import SqlEventLogStorageTable

        for _ in range(3):
            instance.report_runless_asset_event(AssetMaterialization("ours"))
        with instance.event_log_storage.index_connection() as conn:  # type: ignore[attr-defined]
            result = conn.execute(select(SqlEventLogStorageTable.c.id))
            assert result.fetchone() is not None
            unfinished.append(result)
        other.report_runless_asset_event(AssetMaterialization("the_daemons"))
        assert instance.get_latest_materialization_event(AssetKey("the_daemons")) is not None
        instance.report_runless_asset_event(AssetMaterialization("ours_again"))
        assert other.get_latest_materialization_event(AssetKey("ours_again")) is not None
    finally:
        instance.dispose()
        other.dispose()


def test_a_kept_postgres_connection_dropped_by_the_server_is_replaced(
    tmp_path: Path, database_url: str, connects: list[Any]
) -> None:
    """The server ends the run's kept connections (a restart, an idle timeout, an operator's
    pg_terminate_backend): the next write pings, reconnects and succeeds."""
    import psycopg2
    from dagster import AssetMaterialization
    from sqlalchemy.engine import make_url

    instance = _postgres_instance(tmp_path, database_url)
    try:
        assert pool_storage_connections(instance) == 3
        key = AssetKey("kept")
        instance.report_runless_asset_event(AssetMaterialization(key, metadata={"n": 1}))
        del connects[:]
        admin = psycopg2.connect(database_url)
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (make_url(database_url).database,),
            )
            (ended,) = cursor.fetchone()
        admin.close()
        assert ended >= 1  # the kept connection was there, and is gone now
        instance.report_runless_asset_event(AssetMaterialization(key, metadata={"n": 2}))
        assert len(connects) >= 1  # a new connection replaced the dead one
        records = instance.fetch_materializations(key, limit=10).records
        assert len(records) == 2
    finally:
        instance.dispose()
