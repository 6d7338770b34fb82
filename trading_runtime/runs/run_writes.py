"""How a process that runs backtests writes to the instance: over kept PostgreSQL connections,
and a step's materializations in batches.

**Connections.** dagster-postgres opens a new connection for every read and write
(``NullPool``) so that idle processes hold none. A run writes a few events per partition, and
each of them then paid a TCP connect and a password handshake: in a 40-part backfill that was
most of the run's time (``benchmarks/results.md``, issue 21). The webserver gets a pooled engine
from Dagster's own ``optimize_for_webserver``; a process that runs backtests gets the same here,
with two changes: no statement timeout (a run's writes are not interactive queries) and a ping
at checkout, so a server restarted during a command costs a reconnect, not a failed write.

SQLite's event log (a database file per run plus an index file) also builds a new SQLAlchemy
engine and connection for every write, several per event: here each file keeps one connection
(the index and the last few runs'), at about a third of the CPU per event
(benchmarks/results.md). In WAL mode an idle SQLite connection holds no lock, so other
processes (the webserver, the daemon) write as before. What it must not hold is a read snapshot:
a statement that a reader left unfinished (stopped at its first row) keeps its connection's WAL
snapshot open, and a kept connection would then read stale rows and fail its next write at once
with "database is locked" (no busy timeout applies). So each kept connection closes the cursors
it ran when it is handed back, as closing the connection did (``_close_cursors_at_checkin``;
``tests/test_run_writes.py`` shows both).

**Batches.** A single-run backfill's step yields one materialization per partition at its end.
With ``DAGSTER_EVENT_BATCH_SIZE`` set, Dagster writes them as batches: on PostgreSQL one
multi-row insert per batch; SQLite writes them one by one as before. Set unless the environment
sets it. (The other lever Dagster offers, ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``, is
left off: it would stop a failed run's partitions from showing as failed, for little gain.)

Both are applied to the instances the CLI opens (``instance.open_instance``) and, for runs
launched from the UI or by the K8sRunLauncher, when the run's ``backtest_runner`` resource
starts.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import DagsterInstance

__all__ = [
    "EVENT_BATCH_SIZE",
    "MAX_OVERFLOW",
    "POOL_RECYCLE_S",
    "POOL_SIZE",
    "SQLITE_KEPT_FILES",
    "keep_sqlite_connections",
    "pool_storage_connections",
    "prepare_run_writes",
]

EVENT_BATCH_SIZE = 100  # rows per insert: a step's materializations carry ~15 KB of metadata each

POOL_SIZE = 1  # the run's own writes come one at a time
MAX_OVERFLOW = 4  # a sensor or the event watcher reading beside them
POOL_RECYCLE_S = 3600  # below the usual server and load-balancer idle limits
SQLITE_KEPT_FILES = 4  # the index and the runs a command is writing (one at a time, or two)
_POOLED = "_trading_runtime_pooled"


def _postgres_storages(instance: DagsterInstance) -> list[Any]:
    try:
        from dagster_postgres import (
            PostgresEventLogStorage,
            PostgresRunStorage,
            PostgresScheduleStorage,
        )
    except ImportError:  # an install without PostgreSQL support
        return []
    kinds = (PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage)
    storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    return [storage for storage in storages if isinstance(storage, kinds)]


def pool_storage_connections(instance: DagsterInstance) -> int:
    """Give each PostgreSQL storage of ``instance`` a small pool of kept connections, as
    ``optimize_for_webserver`` does for the webserver; the number of storages changed (0 for
    SQLite, or when done before)."""
    from dagster_postgres.utils import create_pg_engine

    changed = 0
    for storage in _postgres_storages(instance):
        if getattr(storage, _POOLED, False):
            continue
        old = storage._engine  # what optimize_for_webserver replaces too
        kwargs: dict[str, Any] = {
            "isolation_level": "AUTOCOMMIT",
            "pool_size": POOL_SIZE,
            "max_overflow": MAX_OVERFLOW,
            "pool_recycle": POOL_RECYCLE_S,
            "pool_pre_ping": True,
        }
        options = old.url.query.get("options")
        if options:
            kwargs["connect_args"] = {"options": options}
        token_provider = getattr(storage, "_token_provider", None)
        storage._engine = create_pg_engine(storage.postgres_url, token_provider, **kwargs)
        old.dispose()
        setattr(storage, _POOLED, True)
        changed += 1
    return changed


class _KeptSqliteConnections:
    """``SqliteEventLogStorage._connect`` with an engine kept per database file: the most
    recently used ``SQLITE_KEPT_FILES``, each holding one connection between writes."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._engines: OrderedDict[str, Any] = OrderedDict()
        self._index: Any = None  # has_table's connect()

    def _engine(self, shard: str) -> Any:
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
            SQLITE_BUSY_TIMEOUT_SECONDS,
        )
        from dagster._core.storage.sql import create_engine
        from sqlalchemy.pool import NullPool

        storage = self._storage
        url = storage.conn_string_for_shard(shard)
        timeout = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        if shard not in storage._initialized_dbs:  # creates the file and its tables, as before
            first = create_engine(url, poolclass=NullPool, connect_args=timeout)
            storage._initdb(first)
            first.dispose()
            storage._initialized_dbs.add(shard)
        return _kept_sqlite_engine(url, **timeout)

    @contextmanager
    def connect(self, shard: str) -> Iterator[Any]:
        with self._storage._db_lock:
            engine = self._engines.pop(shard, None) or self._engine(shard)
            self._engines[shard] = engine  # the most recent last
            while len(self._engines) > SQLITE_KEPT_FILES:
                self._engines.popitem(last=False)[1].dispose()
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """``SqliteEventLogStorage.has_table`` (asked before most reads of partitions and
        tags) over a kept connection to the index, not a new engine each time; outside the
        storage's lock, as Dagster's own (it is asked while a write holds that lock)."""
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME

        if self._index is None:
            url = self._storage.conn_string_for_shard(INDEX_SHARD_NAME)
            self._index = _kept_connect(url)
        with self._index() as conn:
            return bool(conn.dialect.has_table(conn, table_name))


def _kept_sqlite_engine(url: str, **connect_args: Any) -> Any:
    """An engine keeping one SQLite connection between uses (more while several threads use it
    at once; any thread may use a kept one), whose cursors close when a use ends."""
    from dagster._core.storage.sql import create_engine
    from sqlalchemy.pool import QueuePool

    connect_args["check_same_thread"] = False
    engine = create_engine(
        url, poolclass=QueuePool, pool_size=1, max_overflow=4, connect_args=connect_args
    )
    _close_cursors_at_checkin(engine)
    return engine


_CURSORS = "_trading_runtime_cursors"


def _close_cursors_at_checkin(engine: Any) -> None:
    """Close every cursor a use of ``engine`` ran when its connection goes back to the pool:
    SQLite resets their statements, so no read snapshot outlives the use (a result read after
    that fails, as it did when the connection itself closed)."""
    from sqlalchemy import event

    def remember(conn: Any, cursor: Any, *_args: Any) -> None:
        conn.connection.info.setdefault(_CURSORS, weakref.WeakSet()).add(cursor)

    def close(_dbapi_connection: Any, record: Any) -> None:
        if record is None:  # an invalidated connection: closed with its cursors
            return
        for cursor in list(record.info.pop(_CURSORS, ())):
            cursor.close()

    event.listen(engine, "after_cursor_execute", remember)
    event.listen(engine.pool, "checkin", close)


def _kept_connect(conn_string: str) -> Any:
    """``connect()`` of SQLite's run and schedule storages (and ``has_table``'s) over one
    kept engine."""
    engine = _kept_sqlite_engine(conn_string)

    @contextmanager
    def connect() -> Iterator[Any]:
        with engine.connect() as conn, conn.begin():
            yield conn

    return connect


def keep_sqlite_connections(instance: DagsterInstance) -> int:
    """Keep connections to ``instance``'s SQLite files: the event log's
    (``_KeptSqliteConnections``), the runs' and the schedules'; the number of storages changed
    (0 for other storages, or when done before)."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
    from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import (
        SqliteScheduleStorage,
    )

    changed = 0
    # Exactly these classes: a subclass may connect in its own way.
    for storage in (instance.event_log_storage, instance.run_storage, instance.schedule_storage):
        if getattr(storage, _POOLED, False):
            continue
        if type(storage) is SqliteEventLogStorage:
            kept = _KeptSqliteConnections(storage)
            storage._connect = kept.connect  # type: ignore[method-assign]
            storage.has_table = kept.has_table  # type: ignore[method-assign]
        elif type(storage) in (SqliteRunStorage, SqliteScheduleStorage):
            storage.connect = _kept_connect(storage._conn_string)  # type: ignore[union-attr]
        else:
            continue
        setattr(storage, _POOLED, True)
        changed += 1
    return changed


def prepare_run_writes(instance: DagsterInstance) -> None:
    """Kept connections for ``instance`` (``pool_storage_connections``,
    ``keep_sqlite_connections``) and batched event writes for this process, unless
    ``DAGSTER_EVENT_BATCH_SIZE`` is set already."""
    pool_storage_connections(instance)
    keep_sqlite_connections(instance)
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
