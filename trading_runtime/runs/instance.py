"""The Dagster instance the CLI works on: where it is, opening it (one process at a time), the
parts registered as partitions, the partitions' statuses for the plan, and whether the stored
aggregate is current."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from dagster import AssetKey, AssetPartitionStatus, DagsterInstance
from dagster._core.errors import DagsterInvalidConfigError
from upath import UPath

from trading_runtime.defs.partitions import (
    BASE_VARIANT_KEY,
    PARTS_PARTITIONS,
    add_dynamic_keys,
    add_part_partitions,
    result_key,
    result_partitions,
    split_result_key,
    unregistered_part_keys,
    vanished_part_keys,
)
from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.freshness.plan import PartitionStatuses
from trading_runtime.results.aggregate import TOTAL_ROW
from trading_runtime.runs.run_writes import prepare_run_writes
from trading_runtime.runs.storage_retry import (
    postgres_url,
    retry_storage,
    storage_location,
    transient_reason,
)
from trading_runtime.storage import StorageError, read_parquet

__all__ = [
    "AGGREGATE_ASSET",
    "INSTANCE_LOCK_FILE",
    "PART_HASHES_FILE",
    "RESULTS_ASSET",
    "InstanceConfigError",
    "aggregate_is_current",
    "dagster_home",
    "open_instance",
    "part_hash_cache",
    "partition_statuses",
    "register_partitions",
    "register_parts",
    "remove_vanished_parts",
]

RESULTS_ASSET = AssetKey("backtest_results")
AGGREGATE_ASSET = AssetKey("aggregate_metrics")
# The part files' sha256 by size and mtime, kept beside the instance (see part_hashes).
PART_HASHES_FILE = "trading-runtime-part-hashes.json"
# Held (flock) while a process opens the instance: see open_instance.
INSTANCE_LOCK_FILE = ".trading-runtime-instance.lock"
# Bound on one probe of the PostgreSQL server (a host that drops packets rather than refusing).
PROBE_TIMEOUT_S = 5


def dagster_home() -> Path:
    """``DAGSTER_HOME``, set to ``./.dagster`` when unset (what ``make dev`` shows)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


class InstanceConfigError(ValueError):
    """``DAGSTER_HOME/dagster.yaml`` that Dagster cannot load; one line naming the file."""


def open_instance(storage_retry_s: float | None = None) -> DagsterInstance:
    """The instance in ``DAGSTER_HOME``, opened while holding an exclusive lock on
    ``$DAGSTER_HOME/.trading-runtime-instance.lock``; ``InstanceConfigError`` naming its
    ``dagster.yaml`` and the first problem instead of Dagster's pages of traceback.

    Opening a SQLite instance creates its databases and stamps their schema version when they
    are new, with no lock of Dagster's own: two processes opening a fresh home at once can both
    stamp, leaving ``alembic_version`` with two heads, and every later command fails (or one of
    them fails on a table the other just created). The lock makes the first opener create and
    stamp everything; the others wait (a fraction of a second) and find it done. The lock is a
    kernel ``flock``: a killed holder releases it. Processes that open the instance without it
    (``dg dev``, ``dagster`` commands) are not covered: start them after a first ``materialize``.

    A storage outage (PostgreSQL down or restarting, SQLite locked) is retried with bounded
    backoff over ``storage_retry_s`` (default: ``TRADING_RUNTIME_STORAGE_RETRY_S``), a line per
    retry on stderr, then ``StorageUnreachableError`` (one line: host and port, the last error).
    """
    if storage_retry_s is None:
        from trading_runtime.settings import load_settings

        storage_retry_s = load_settings().storage_retry_s
    home = dagster_home()
    file = home / "dagster.yaml"
    url = postgres_url(file)

    def attempt() -> DagsterInstance:
        if url is not None:
            _probe(url)
        with open(home / INSTANCE_LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return _open(file)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    instance = retry_storage(attempt, storage_location(file, url), storage_retry_s)
    prepare_run_writes(instance)  # a command writes many events: keep connections, batch them
    return instance


def _probe(url: str) -> None:
    """One bounded connection to the server: an outage shows here at once, where Dagster's
    storages would first retry it for about 11 s and log each try. Other errors are left to
    opening the instance, which reports them as before."""
    import psycopg2
    from sqlalchemy.engine import make_url

    try:
        # libpq takes postgresql:// URLs, not SQLAlchemy's postgresql+psycopg2://.
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        psycopg2.connect(dsn, connect_timeout=PROBE_TIMEOUT_S).close()
    except Exception as exc:
        if transient_reason(exc) is not None:
            raise


def _open(file: Path) -> DagsterInstance:
    try:
        return DagsterInstance.get()  # creates and stamps every SQLite storage it uses
    except DagsterInvalidConfigError as exc:
        errors = [e.message for e in exc.errors] or [str(exc).splitlines()[0]]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        problem = " ".join(errors[0].split())
        raise InstanceConfigError(
            f"invalid Dagster instance config {file}: {problem}{more}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InstanceConfigError(
            f"invalid Dagster instance config {file}: not valid YAML: {problem}{where}"
        ) from None


def register_partitions(instance: DagsterInstance, keys: Sequence[str], name: str) -> list[str]:
    """Add the keys that are not partitions of ``name`` yet (what the sensors do); the new ones."""
    new_keys = unregistered_part_keys(instance, keys, name)
    if new_keys:
        add_dynamic_keys(instance, name, new_keys)
    return new_keys


def register_parts(instance: DagsterInstance, keys: Sequence[str]) -> list[str]:
    """``register_partitions`` for parts, which come with the ``base`` variant (the configured
    backtest): every registered part has a ``backtest_results`` partition (part x variant)."""
    new_keys = unregistered_part_keys(instance, keys)
    add_part_partitions(instance, new_keys)
    return new_keys


def remove_vanished_parts(
    instance: DagsterInstance, keys: Sequence[str], name: str = PARTS_PARTITIONS
) -> list[str]:
    """Delete the partitions that are not among ``keys``, the part files present (what the
    sensor does); the removed ones. Their materializations stay in the event log and their
    stored results stay on storage (the aggregate reports them as orphaned)."""
    gone = vanished_part_keys(instance, keys, name)
    for key in gone:
        instance.delete_dynamic_partition(name, key)
    return gone


def partition_statuses(
    instance: DagsterInstance, parts: Sequence[str], variant: str = BASE_VARIANT_KEY
) -> PartitionStatuses:
    """Which of ``parts`` Dagster has materialized for ``variant``, and whose latest attempt
    failed (by part)."""
    keys = [result_key(part, variant) for part in parts]
    statuses = instance.get_status_by_partition(RESULTS_ASSET, keys, result_partitions) or {}
    by_part = {split_result_key(str(key))[0]: status for key, status in statuses.items()}
    return PartitionStatuses(
        materialized=frozenset(
            k for k, s in by_part.items() if s == AssetPartitionStatus.MATERIALIZED
        ),
        failed=frozenset(k for k, s in by_part.items() if s == AssetPartitionStatus.FAILED),
    )


def part_hash_cache() -> PartHashCache:
    """The part files' sha256 cache beside the instance."""
    return PartHashCache(dagster_home() / PART_HASHES_FILE)


def _latest_storage_id(instance: DagsterInstance, key: AssetKey) -> int | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].storage_id if records else None


def aggregate_is_current(
    instance: DagsterInstance, aggregate_file: UPath, parts: set[str] | None = None
) -> bool:
    """The stored aggregate exists, was materialized after the latest result (any partition)
    and, with ``parts`` (the current parts with a stored result), lists exactly those: a run
    stopped between removing a part's partition and aggregating leaves no other trace."""
    if not aggregate_file.exists():
        return False
    aggregate = _latest_storage_id(instance, AGGREGATE_ASSET)
    latest_result = _latest_storage_id(instance, RESULTS_ASSET)
    if aggregate is None or (latest_result is not None and aggregate <= latest_result):
        return False
    return parts is None or aggregated_parts(aggregate_file) == parts


def aggregated_parts(aggregate_file: UPath) -> set[str] | None:
    """The parts the stored aggregate table lists (its TOTAL row left out); None when it cannot
    be read (then it is rebuilt)."""
    try:
        column = read_parquet(aggregate_file).column("partition").to_pylist()
    except (OSError, KeyError, ValueError, StorageError):
        return None
    return {str(key) for key in column if key != TOTAL_ROW}
