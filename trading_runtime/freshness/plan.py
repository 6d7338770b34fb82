"""The plan of an incremental run: which partitions to backtest, each with why, and which are up
to date. Pure: Dagster's view of the partitions (``PartitionStatuses``) comes in as arguments.

The code inputs come from ``code_version.current_code_inputs``, the function Dagster's code
version of ``backtest_results`` is computed from too (``code_version.result_code_version``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upath import UPath

from trading_runtime.config import LATENCY_DIR, BacktestConfig
from trading_runtime.data.latency import latency_files_sha256
from trading_runtime.data.parts_store import part_location
from trading_runtime.freshness.code_version import current_code_inputs
from trading_runtime.freshness.damage import cached_sha256
from trading_runtime.freshness.inputs import recorded_inputs, stale_inputs
from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.freshness.staleness import CurrentInputs, stale_reason
from trading_runtime.layout import RESULTS_DIR
from trading_runtime.results import BacktestResult, ResultIntegrityError
from trading_runtime.storage import as_upath, is_local

__all__ = ["DAMAGED", "BacktestPlan", "PartitionStatuses", "latency_changes", "plan_backtests"]


@dataclass(frozen=True)
class PartitionStatuses:
    """What Dagster records of the partitions: materialized ones, and those whose latest attempt
    failed."""

    materialized: frozenset[str] = field(default_factory=frozenset)
    failed: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class BacktestPlan:
    """Which partitions to backtest (with why) and which are up to date, in the given order."""

    to_run: dict[str, str]
    up_to_date: list[str]
    hashed: int  # part files read in full (the rest came from the size+mtime cache)
    verified: int = 0  # result files read in full to verify them (the rest: from the cache)


DAMAGED = "damaged"


def _stored_result(results: str, key: str) -> BacktestResult | ResultIntegrityError | None:
    """The partition's stored result (its ``result.json``); None when there is none or it
    cannot be read (then the partition runs again and replaces it), the error when its
    ``result.json`` is not one."""
    try:
        return BacktestResult.load(as_upath(results) / RESULTS_DIR / key)
    except ResultIntegrityError as exc:
        return exc
    except OSError:
        return None


def plan_backtests(
    keys: Sequence[str],
    *,
    statuses: PartitionStatuses,
    config: BacktestConfig,
    parts_dir: str,
    results: str,
    hashes: PartHashCache,
    result_hashes: PartHashCache | None = None,
    force: bool = False,
) -> BacktestPlan:
    """Each of ``keys`` that is missing, failed, stale (``staleness.stale_reason``) or damaged,
    with its reason; with ``force``, all of them. Dagster says (``statuses``) which partitions it
    has materialized and whose latest attempt failed; ``result.json`` says what each stored result
    was made from; ``hashes`` gives the part files' sha256 (and is saved afterwards). A result
    that is otherwise up to date is verified (``BacktestResult.verify``): a listed file missing
    or altered, or a ``result.json`` that is not one, runs it again as ``damaged: <what>``.
    ``result_hashes`` caches the result files' sha256 by size and mtime (default: none, every
    file is read)."""
    if force:
        return BacktestPlan({key: "forced" for key in keys}, [], 0)
    code = current_code_inputs(config)
    sha256_cache: dict[str, str | None] = {}

    def sha256_of(key: str) -> str | None:
        if key not in sha256_cache:
            location: UPath = part_location(parts_dir, key)
            sha256_cache[key] = hashes.sha256(location)
        return sha256_cache[key]

    verified = result_hashes if result_hashes is not None else PartHashCache()
    to_run: dict[str, str] = {}
    current_ones: dict[str, dict[str, Any]] = {}
    for key in keys:
        current = CurrentInputs(
            part=key,
            code=code,
            sha256_of=sha256_of,
            last_run_failed=key in statuses.failed,
            recorded=key in statuses.materialized,
        )
        stored = _stored_result(results, key)
        if isinstance(stored, ResultIntegrityError):
            to_run[key] = f"{DAMAGED}: {stored.what}"
            continue
        provenance = stored.provenance if stored is not None else None
        reason = stale_reason(provenance, current)
        if reason is None and stored is not None:
            try:
                stored.verify(cached_sha256(verified))
            except ResultIntegrityError as exc:
                reason = f"{DAMAGED}: {exc.what}"
        if reason is None and provenance is not None:
            current_ones[key] = provenance
        elif reason is not None:
            to_run[key] = reason
    if config.warmup is not None and current_ones:
        # The warm-up neighbours themselves may have changed (a part added before this one).
        def sha256_or_gone(location: UPath) -> str:
            found = hashes.sha256(location)
            return found if found is not None else "gone"

        known = {key: sha for key, sha in sha256_cache.items() if sha is not None}
        moved = stale_inputs(config, parts_dir, current_ones, known, sha256_or_gone)
        to_run.update(moved)
    to_run.update(latency_changes(config, parts_dir, current_ones, set(to_run)))
    up_to_date = [key for key in keys if key not in to_run]
    hashes.save()
    verified.save()
    return BacktestPlan(
        {key: to_run[key] for key in keys if key in to_run},
        up_to_date,
        hashes.hashed,
        verified.hashed,
    )


def latency_changes(
    config: BacktestConfig,
    parts_dir: str,
    provenances: Mapping[str, Mapping[str, Any]],
    skip: set[str],
) -> dict[str, str]:
    """Results whose latency files (``engine.latency``, local parts only) are not the ones they
    recorded."""
    if config.engine.latency_file("part") is None or not is_local(as_upath(parts_dir)):
        return {}
    latency_dir = Path(parts_dir) / LATENCY_DIR
    changed: dict[str, str] = {}
    for key, provenance in provenances.items():
        if key in skip:
            continue
        names = [config.engine.latency_file(part) or "" for part, _ in recorded_inputs(provenance)]
        paths = [latency_dir / name for name in names]
        gone = [name for name, path in zip(names, paths, strict=True) if not path.is_file()]
        if gone:
            changed[key] = f"latency file {LATENCY_DIR}/{gone[0]} gone"
        elif latency_files_sha256(paths) != provenance.get("latency_sha256"):
            changed[key] = "latency file changed"
    return changed
