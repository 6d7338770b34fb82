"""How a process that runs backtests writes to the instance: over kept PostgreSQL connections,
and a step's materializations in batches.

**Connections.** dagster-postgres opens a new connection for every read and write
(``NullPool``) so that idle processes hold none. A run writes a few events per partition, and
each of them then paid a TCP connect and a password handshake: in a 40-part backfill that was
most of the run's time (``benchmarks/results.md``, issue 21). The webserver gets a pooled engine
from Dagster's own ``optimize_for_webserver``; a process that runs backtests gets the same here,
with two changes: no statement timeout (a run's writes are not interactive queries) and a ping
at checkout, so a server restarted during a command costs a reconnect, not a failed write.

**Batches.** A single-run backfill's step yields one materialization per partition at its end.
With ``DAGSTER_EVENT_BATCH_SIZE`` set, Dagster writes them as batches: on PostgreSQL one
multi-row insert per batch; SQLite writes them one by one as before. Set unless the environment
sets it. (The other lever Dagster offers, ``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``, is
left off: it would stop a failed run's partitions from showing as failed, for little gain.)

Both are applied to the instances the CLI opens (``instance.open_instance``) and, for runs
launched from the UI or by the K8sRunLauncher, when the run's ``backtest_runner`` resource
starts. SQLite storages are left as they are (a file, not a server; nothing to keep open).
"""

from __future__ import annotations

import os
from typing import Any

from dagster import DagsterInstance

__all__ = [
    "EVENT_BATCH_SIZE",
    "MAX_OVERFLOW",
    "POOL_RECYCLE_S",
    "POOL_SIZE",
    "pool_storage_connections",
    "prepare_run_writes",
]

EVENT_BATCH_SIZE = 100  # rows per insert: a step's materializations carry ~15 KB of metadata each

POOL_SIZE = 1  # the run's own writes come one at a time
MAX_OVERFLOW = 4  # a sensor or the event watcher reading beside them
POOL_RECYCLE_S = 3600  # below the usual server and load-balancer idle limits
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


def prepare_run_writes(instance: DagsterInstance) -> None:
    """Kept connections for ``instance`` (``pool_storage_connections``) and batched event writes
    for this process, unless ``DAGSTER_EVENT_BATCH_SIZE`` is set already."""
    pool_storage_connections(instance)
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
