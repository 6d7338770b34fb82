"""Who owns a run the CLI launched: one tag naming the owning process (host, boot, pid namespace,
pid, start time), and the runs whose owner is provably gone, marked failed."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from dataclasses import dataclass

from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

from trading_runtime.backtest.processes import ProcessIdentity, current_process, parse_identity

__all__ = [
    "OWNER_TAG",
    "DeadRun",
    "mark_canceled",
    "mark_dead_runs_failed",
    "own_unfinished_runs",
    "owner_tags",
    "run_owner",
]

# The owning process as compact JSON (``ProcessIdentity``'s fields). The start time tells a live
# owner from a later process that got the same pid; the kernel boot and pid namespace say when a
# pid means nothing here (another container that shares the host name, a reboot), and such an
# owner is never judged dead.
OWNER_TAG = "trading_runtime/owner"
# Statuses of a run that has not finished; a run of ours stays in one only while its process lives.
_UNFINISHED = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def owner_tags(owner: ProcessIdentity | None = None) -> dict[str, str]:
    """The tag naming ``owner`` (this process by default) as the owner of a run."""
    identity = dataclasses.asdict(owner or current_process())
    return {OWNER_TAG: json.dumps(identity, sort_keys=True, separators=(",", ":"))}


def run_owner(run: DagsterRun) -> ProcessIdentity | None:
    """The process that owns a run, None for a run without (a readable) owner tag."""
    value = run.tags.get(OWNER_TAG)
    return parse_identity(value) if value is not None else None


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
    dead = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        owner = run_owner(run)
        if owner is None or owner.host != host:
            continue
        pid = owner.pid
        if pid == os.getpid() or owner.is_alive():
            continue
        message = (
            f"run {run.run_id} ({run.job_name}) was still {run.status.value} but its process"
            f" (pid {pid} on {host}) is gone: it was killed or crashed; marked failed"
        )
        instance.report_run_failed(run, message)
        dead.append(DeadRun(run.run_id, run.job_name, pid, message))
    return dead


def own_unfinished_runs(instance: DagsterInstance) -> list[str]:
    """The ids of the unfinished runs this process started."""
    me = current_process()
    return [
        record.dagster_run.run_id
        for record in instance.get_run_records(filters=RunsFilter(statuses=_UNFINISHED))
        if run_owner(record.dagster_run) == me
    ]


def mark_canceled(instance: DagsterInstance, run_ids: list[str], message: str) -> list[str]:
    """Report as canceled, with ``message``, each of ``run_ids`` that did not succeed (an
    interrupted run fails as its workers are killed: it was canceled); the ids marked."""
    marked = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status not in (
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.CANCELED,
        ):
            instance.report_run_canceled(run, message)
            marked.append(run_id)
    return marked
