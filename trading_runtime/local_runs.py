"""The project's Dagster jobs run in this process: the CLI's main job and the benchmark.

Both go through the same instance, job and tags that the UI and a backfill would use. Each run is
tagged with the process that owns it, so that a later start-up can tell a run whose process died
(SIGKILL, power loss) from one still running, and mark it failed: no daemon watches these runs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetPartitionStatus,
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    JobDefinition,
    RunsFilter,
)
from upath import UPath

from trading_runtime.config import LATENCY_DIR, BacktestConfig
from trading_runtime.dagster_compat import partition_range_tags
from trading_runtime.data.latency import latency_provenance
from trading_runtime.defs.partitions import (
    PARTS_PARTITIONS,
    part_partitions,
    unregistered_part_keys,
    vanished_part_keys,
)
from trading_runtime.layout import RESULT_FILE, RESULTS_DIR
from trading_runtime.part_hashes import PartHashCache
from trading_runtime.processes import ProcessIdentity, current_process
from trading_runtime.results import read_whole
from trading_runtime.staleness import CurrentInputs, current_code_inputs, stale_reason
from trading_runtime.storage import as_upath, is_local, part_location
from trading_runtime.warmup import recorded_inputs, stale_inputs

__all__ = [
    "OWNER_BOOT_TAG",
    "OWNER_HOST_TAG",
    "OWNER_PID_NAMESPACE_TAG",
    "OWNER_PID_TAG",
    "OWNER_STARTED_TAG",
    "QUIET_RUN_CONFIG",
    "BacktestPlan",
    "DeadRun",
    "aggregate_is_current",
    "contiguous_stretches",
    "dagster_home",
    "failure_messages",
    "latency_changes",
    "mark_dead_runs_failed",
    "owner_tags",
    "plan_backtests",
    "register_parts",
    "remove_vanished_parts",
    "run_aggregate",
    "run_partition",
    "run_partition_range",
]

# Who runs a run: host name, process id, and the process's start time (clock ticks since boot,
# from /proc), which tells a live owner from a later process that got the same pid.
OWNER_HOST_TAG = "trading_runtime/owner_host"
OWNER_PID_TAG = "trading_runtime/owner_pid"
OWNER_STARTED_TAG = "trading_runtime/owner_started"
# The kernel boot and pid namespace: a pid means nothing across them (another container that
# shares the host name, a reboot), so such an owner is never judged dead.
OWNER_BOOT_TAG = "trading_runtime/owner_boot"
OWNER_PID_NAMESPACE_TAG = "trading_runtime/owner_pid_namespace"
# Statuses of a run that has not finished; a run of ours stays in one only while its process lives.
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]

# The CLI prints its own progress; Dagster's per-event console log would drown it.
# Failures included: the CLI prints each once, in one line (``failure_messages``).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def dagster_home() -> Path:
    """``DAGSTER_HOME``, set to ``./.dagster`` when unset (what ``make dev`` shows)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


def register_parts(instance: DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Add the keys that are not partitions yet (what the sensor does); the new ones."""
    new_keys = unregistered_part_keys(instance, keys)
    if new_keys:
        instance.add_dynamic_partitions(PARTS_PARTITIONS, new_keys)
    return new_keys


def remove_vanished_parts(instance: DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Delete the partitions that are not among ``keys``, the part files present (what the
    sensor does); the removed ones. Their materializations stay in the event log and their
    stored results stay on storage (the aggregate reports them as orphaned)."""
    gone = vanished_part_keys(instance, keys)
    for key in gone:
        instance.delete_dynamic_partition(PARTS_PARTITIONS, key)
    return gone


RESULTS_ASSET = AssetKey("backtest_results")
AGGREGATE_ASSET = AssetKey("aggregate_metrics")
# The part files' sha256 by size and mtime, kept beside the instance (see part_hashes).
PART_HASHES_FILE = "trading-runtime-part-hashes.json"


@dataclass(frozen=True)
class BacktestPlan:
    """Which partitions to backtest (with why) and which are up to date, in the given order."""

    to_run: dict[str, str]
    up_to_date: list[str]
    hashed: int  # part files read in full (the rest came from the size+mtime cache)


def _stored_provenance(results: str, key: str) -> dict[str, Any] | None:
    """The provenance in a partition's ``result.json``; None when there is none (or it cannot
    be read: then the partition runs again and replaces it)."""
    try:
        document = json.loads(read_whole(as_upath(results) / RESULTS_DIR / key / RESULT_FILE))
        provenance = document["provenance"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return provenance if isinstance(provenance, dict) else None


def plan_backtests(
    instance: DagsterInstance,
    keys: Sequence[str],
    *,
    config: BacktestConfig,
    parts_dir: str,
    results: str,
    force: bool = False,
) -> BacktestPlan:
    """Each of ``keys`` that is missing, failed or stale (``staleness.stale_reason``), with its
    reason; with ``force``, all of them. Dagster says which partitions it has materialized and
    whose latest attempt failed; ``result.json`` says what each stored result was made from."""
    if force:
        return BacktestPlan({key: "forced" for key in keys}, [], 0)
    statuses = instance.get_status_by_partition(RESULTS_ASSET, list(keys), part_partitions) or {}
    hashes = PartHashCache(dagster_home() / PART_HASHES_FILE)
    code = current_code_inputs(config)
    sha256_cache: dict[str, str | None] = {}

    def sha256_of(key: str) -> str | None:
        if key not in sha256_cache:
            location: UPath = part_location(parts_dir, key)
            sha256_cache[key] = hashes.sha256(location)
        return sha256_cache[key]

    to_run: dict[str, str] = {}
    current_ones: dict[str, dict[str, Any]] = {}
    for key in keys:
        status = statuses.get(key)
        current = CurrentInputs(
            part=key,
            code=code,
            sha256_of=sha256_of,
            last_run_failed=status == AssetPartitionStatus.FAILED,
            recorded=status == AssetPartitionStatus.MATERIALIZED,
        )
        provenance = _stored_provenance(results, key)
        reason = stale_reason(provenance, current)
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
    return BacktestPlan(
        {key: to_run[key] for key in keys if key in to_run}, up_to_date, hashes.hashed
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
        elif latency_provenance(paths).get("latency_sha256") != provenance.get("latency_sha256"):
            changed[key] = "latency file changed"
    return changed


def contiguous_stretches(ordered: Sequence[str], selected: Sequence[str]) -> list[list[str]]:
    """``selected`` keys as runs of neighbours in ``ordered`` (the partitions' registration
    order): a single-run backfill covers a range, so each stretch is one run."""
    wanted = set(selected)
    stretches: list[list[str]] = []
    current: list[str] = []
    for key in ordered:
        if key in wanted:
            current.append(key)
        elif current:
            stretches.append(current)
            current = []
    if current:
        stretches.append(current)
    return stretches


def _latest_storage_id(instance: DagsterInstance, key: AssetKey) -> int | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].storage_id if records else None


def aggregate_is_current(instance: DagsterInstance, aggregate_file: UPath) -> bool:
    """The stored aggregate exists and was materialized after the latest result (any partition)."""
    if not aggregate_file.exists():
        return False
    aggregate = _latest_storage_id(instance, AGGREGATE_ASSET)
    latest_result = _latest_storage_id(instance, RESULTS_ASSET)
    return aggregate is not None and (latest_result is None or aggregate > latest_result)


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of the runs it executes."""
    me = current_process()
    return {
        OWNER_HOST_TAG: me.host,
        OWNER_PID_TAG: str(me.pid),
        OWNER_STARTED_TAG: str(me.start_ticks) if me.start_ticks is not None else "unknown",
        OWNER_BOOT_TAG: me.boot_id or "unknown",
        OWNER_PID_NAMESPACE_TAG: me.pid_namespace or "unknown",
    }


def _owner(tags: Mapping[str, str], pid: int) -> ProcessIdentity:
    def known(tag: str) -> str | None:
        value = tags.get(tag, "unknown")
        return None if value == "unknown" else value

    started = known(OWNER_STARTED_TAG)
    return ProcessIdentity(
        tags[OWNER_HOST_TAG],
        pid,
        int(started) if started is not None and started.isdigit() else None,
        known(OWNER_BOOT_TAG),
        known(OWNER_PID_NAMESPACE_TAG),
    )


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job_name: str
    pid: int
    message: str


def mark_dead_runs_failed(instance: DagsterInstance) -> list[DeadRun]:
    """Report as failed every unfinished run that a process on this host started and that
    process is gone (killed, crashed, machine restarted); the runs marked. Runs of other hosts
    and runs without owner tags (launched by the UI or a daemon) are left alone."""
    host = socket.gethostname()
    records = instance.get_run_records(
        filters=RunsFilter(statuses=_UNFINISHED, tags={OWNER_HOST_TAG: host})
    )
    dead = []
    for record in records:
        run = record.dagster_run
        try:
            pid = int(run.tags[OWNER_PID_TAG])
        except (KeyError, ValueError):
            continue
        if pid == os.getpid() or _owner(run.tags, pid).is_alive():
            continue
        message = (
            f"run {run.run_id} ({run.job_name}) was still {run.status.value} but its process"
            f" (pid {pid} on {host}) is gone: it was killed or crashed; marked failed"
        )
        instance.report_run_failed(run, message)
        dead.append(DeadRun(run.run_id, run.job_name, pid, message))
    return dead


def run_partition(
    job: JobDefinition, instance: DagsterInstance, key: str
) -> ExecuteInProcessResult:
    return job.execute_in_process(
        instance=instance,
        partition_key=key,
        tags=owner_tags(),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def run_partition_range(
    job: JobDefinition, instance: DagsterInstance, keys: Sequence[str]
) -> ExecuteInProcessResult:
    """One run over ``keys[0]..keys[-1]`` in registration order: a single-run backfill."""
    return job.execute_in_process(
        instance=instance,
        tags={**owner_tags(), **partition_range_tags(keys[0], keys[-1])},
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def run_aggregate(job: JobDefinition, instance: DagsterInstance) -> ExecuteInProcessResult:
    """The ``aggregate`` job over every stored result."""
    return job.execute_in_process(
        instance=instance, tags=owner_tags(), raise_on_error=False, run_config=QUIET_RUN_CONFIG
    )


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _cause_message(error: Any) -> str:
    """The first error that is not Dagster's own wrapper (IO manager errors come wrapped)."""
    while str(error.cls_name).startswith("Dagster") and getattr(error, "cause", None) is not None:
        error = error.cause
    return _one_line(str(error.message)) or str(error.cls_name)


def failure_messages(result: Any) -> list[str]:
    """One line per failure of a run: each failed part's error (``FAILURES_METADATA``), else
    ``step: cause`` with the step's error as raised (not Dagster's wrapper around it)."""
    from trading_runtime.defs.assets import FAILURES_METADATA

    messages: list[str] = []
    for event in result.all_events:
        if not event.is_step_failure or event.step_failure_data is None:
            continue
        failure = event.step_failure_data.user_failure_data
        per_part = failure.metadata.get(FAILURES_METADATA) if failure is not None else None
        if per_part is not None:
            messages.extend(_one_line(str(error)) for error in per_part.value.values())
        elif failure is not None and failure.description:
            messages.append(f"{event.step_key}: {_one_line(failure.description)}")
        elif event.step_failure_data.error is not None:
            messages.append(f"{event.step_key}: {_cause_message(event.step_failure_data.error)}")
    return messages
