"""Asset checks: the part file is still what was validated; results are reproducible."""

import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    PartitionsDefinition,
    asset_check,
)

from trading_runtime.data.part_info import sha256_file
from trading_runtime.data.parts_store import localize
from trading_runtime.defs.assets import parts
from trading_runtime.defs.partitions import part_partitions, result_partitions
from trading_runtime.defs.resources import PartsDirectory
from trading_runtime.results import RESULT_INPUTS

__all__ = [
    "make_result_determinism_check",
    "part_file_is_valid",
    "recent_metadata_by_partition",
]

# Hashing releases the GIL: a few threads keep the disk (or object store) busy.
_HASH_THREADS = 4
# Partitions per query (SQLite binds at most 32,766 values) and pages before reading one by one.
_BATCH_PARTITIONS = 1000
_BATCH_PAGES = 3


def _checked_partitions(
    context: AssetCheckExecutionContext, partitions: PartitionsDefinition[Any] = part_partitions
) -> list[str]:
    """The run's partitions; every registered one when the check runs on its own."""
    if context.has_partition_key or context.op_execution_context.has_partition_key_range:
        return [str(key) for key in context.op_execution_context.partition_keys]
    return list(partitions.get_partition_keys(dynamic_partitions_store=context.instance))


def _metadata(record: Any) -> dict[str, Any] | None:
    materialization = record.asset_materialization
    if materialization is None:
        return None
    return {k: v.value for k, v in materialization.metadata.items()}


def _recent_metadata(
    instance: DagsterInstance, asset_key: AssetKey, partition: str, limit: int
) -> list[dict[str, Any]]:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]),
        limit=limit,
        ascending=False,
    ).records
    return [m for m in map(_metadata, records) if m is not None]


def recent_metadata_by_partition(
    instance: DagsterInstance, asset_key: AssetKey, partitions: Sequence[str], limit: int
) -> dict[str, list[dict[str, Any]]]:
    """``_recent_metadata`` of every partition, read together: newest first over all of them,
    in pages of ``limit`` records per partition still short. A run's partitions are materialized
    together, so a page or two usually holds what a check needs (one query per partition cost a
    round trip each); a partition still short after ``_BATCH_PAGES`` pages, behind a long
    history of others, is read on its own."""
    found: dict[str, list[dict[str, Any]]] = {key: [] for key in partitions}
    ordered = list(found)
    for start in range(0, len(ordered), _BATCH_PARTITIONS):
        short = set(ordered[start : start + _BATCH_PARTITIONS])
        cursor: str | None = None
        for _ in range(_BATCH_PAGES):
            page = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=asset_key, asset_partitions=sorted(short)),
                limit=limit * len(short),
                cursor=cursor,
                ascending=False,
            )
            for record in page.records:
                key = record.partition_key
                metadata = _metadata(record)
                if key in short and metadata is not None:
                    found[key].append(metadata)
                    if len(found[key]) == limit:
                        short.discard(key)
            if not page.has_more or not short:
                short.clear()  # the rest have no more history than they have now
                break
            cursor = page.cursor
        for key in short:
            found[key] = _recent_metadata(instance, asset_key, key, limit)
    return found


@asset_check(
    asset=parts,
    blocking=True,
    description="The part file still has the bytes (sha256) the parts asset validated.",
)
def part_file_is_valid(
    context: AssetCheckExecutionContext, parts_dir: PartsDirectory
) -> AssetCheckResult:
    # The asset validated the file's content; the file is still valid while its bytes are the
    # ones it validated, which a hash shows without decoding it again.
    keys = _checked_partitions(context)
    recorded = recent_metadata_by_partition(context.instance, parts.key, keys, limit=1)
    with tempfile.TemporaryDirectory(prefix="parts-") as scratch:

        def problem(key: str) -> str | None:
            location = parts_dir.location(key)
            if not location.is_file():
                return f"part {location}: file does not exist"
            if not recorded[key]:
                return f"part {key}: never validated; materialize parts for it"
            current = sha256_file(localize(location, Path(scratch)))
            if recorded[key][0].get("sha256") != current:
                return f"part {location}: file changed since it was validated; re-materialize"
            return None

        with ThreadPoolExecutor(_HASH_THREADS) as pool:
            problems = [p for p in pool.map(problem, keys) if p is not None]
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(problems) or f"{len(keys)} part(s) valid",
        metadata={"checked_partitions": len(keys)},
    )


def _determinism_problems(history: list[dict[str, Any]], partition: str) -> Iterator[str]:
    if len(history) < 2:
        return
    current, previous = history[0], history[1]
    if any(current.get(name) != previous.get(name) for name in RESULT_INPUTS):
        return  # inputs changed: a different result is expected
    if current.get("content_hash") != previous.get("content_hash"):
        yield (
            f"{partition}: content hash {current.get('content_hash')} differs from the previous"
            f" run's {previous.get('content_hash')} with identical inputs"
        )


def make_result_determinism_check(backtest_results: Any) -> Any:
    @asset_check(
        asset=backtest_results,
        description=(
            "Re-running a partition with the same part, config, strategy and engine gives the"
            " same content hash as the previous run."
        ),
    )
    def result_is_deterministic(context: AssetCheckExecutionContext) -> AssetCheckResult:
        problems: list[str] = []
        compared = 0
        keys = _checked_partitions(context, result_partitions)
        histories = recent_metadata_by_partition(
            context.instance, backtest_results.key, keys, limit=2
        )
        for key, history in histories.items():
            compared += len(history) >= 2
            problems.extend(_determinism_problems(history, key))
        return AssetCheckResult(
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(problems)
            or f"{compared} partition(s) compared with their previous run",
            metadata={"compared_with_previous_run": compared},
        )

    return result_is_deterministic
