"""Runs whose process died: tagged with their owner, marked failed at the next CLI start-up."""

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
    instance_for_test,
)

from trading_runtime.backtest.processes import current_process, process_start_ticks
from trading_runtime.runs.owners import OWNER_TAG, mark_dead_runs_failed, owner_tags, run_owner

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def _exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _started_run(instance: DagsterInstance, run_id: str, tags: dict[str, str]) -> DagsterRun:
    return instance.add_run(
        DagsterRun(
            job_name="backtest_parts", run_id=run_id, status=DagsterRunStatus.STARTED, tags=tags
        )
    )


def _status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_only_runs_of_dead_processes_on_this_host_are_marked_failed(
    instance: DagsterInstance,
) -> None:
    me = current_process()
    mine = owner_tags()
    assert list(mine) == [OWNER_TAG]  # one tag names the owner
    assert me.pid == os.getpid() and me.start_ticks is not None
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # The tag the other process's runs would carry (its start time from /proc).
        ticks = Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        assert process_start_ticks(other.pid) == int(ticks)
        alive_owner = dataclasses.replace(me, pid=other.pid, start_ticks=int(ticks))
        runs = {
            "live": owner_tags(alive_owner),
            "this-process": mine,
            "dead": owner_tags(dataclasses.replace(me, pid=_exited_pid())),
            # The pid is alive, but it is another process than the one that started the run.
            "reused-pid": owner_tags(dataclasses.replace(alive_owner, start_ticks=int(ticks) - 1)),
            "other-host": owner_tags(dataclasses.replace(me, host=socket.gethostname() + "-other")),
            "untagged": {},  # launched by the UI or a daemon: run monitoring's business
        }
        for run_id, tags in runs.items():
            _started_run(instance, run_id, tags)
        dead = mark_dead_runs_failed(instance)
    finally:
        other.kill()
        other.wait()
    assert sorted(d.run_id for d in dead) == ["dead", "reused-pid"]
    assert "its process (pid" in dead[0].message and "is gone" in dead[0].message
    for run_id in runs:
        dead_run = run_id in ("dead", "reused-pid")
        expected = DagsterRunStatus.FAILURE if dead_run else DagsterRunStatus.STARTED
        assert _status(instance, run_id) == expected, run_id
    # Once its process is gone, the live one's run goes too; each dead run is reported once.
    assert [d.run_id for d in mark_dead_runs_failed(instance)] == ["live"]
    assert mark_dead_runs_failed(instance) == []


def _runs(instance: DagsterInstance, **filters: Any) -> list[DagsterRun]:
    return list(instance.get_runs(filters=RunsFilter(**filters)))


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_sigkilled_materialize_leaves_a_run_the_next_start_marks_failed(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    shutil.copy2(generated_parts[0], parts_dir / generated_parts[0].name)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
        "TRADING_RUNTIME_WORKERS": "1",
    }
    command = [sys.executable, "-m", "trading_runtime", "materialize"]
    # Its own session, so that the engine workers it leaves behind can be cleaned up below.
    victim = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        instance = DagsterInstance.from_config(str(home))
        started: list[DagsterRun] = []
        deadline = time.monotonic() + 120
        while not started and victim.poll() is None and time.monotonic() < deadline:
            started = [
                run
                for run in _runs(instance, statuses=[DagsterRunStatus.STARTED])
                if (owner := run_owner(run)) is not None and owner.pid == victim.pid
            ]
            time.sleep(0.05)
        assert started, "the materialize run never showed as STARTED"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        # What the killed process left running (engine workers: not this test's subject).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    (killed,) = started
    assert _status(instance, killed.run_id) == DagsterRunStatus.STARTED  # stuck, as reported

    run = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"marked failed: run {killed.run_id} ({killed.job_name}) was still STARTED" in run.stderr
    assert f"(pid {victim.pid} on {socket.gethostname()}) is gone" in run.stderr
    assert _status(instance, killed.run_id) == DagsterRunStatus.FAILURE
    others = [r for r in _runs(instance) if r.run_id != killed.run_id]
    assert others and {r.status for r in others} == {DagsterRunStatus.SUCCESS}
    assert "[1/1] ok     part-00000" in run.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_writes_an_instance_with_run_monitoring(tmp_path: Path) -> None:
    """The instance `make dev` and `make run` share: run monitoring on, in the form the
    DefaultRunLauncher accepts (no resume attempts: it cannot resume runs)."""
    home = tmp_path / "home"
    subprocess.run(
        ["make", "-s", f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"],
        cwd=REPO,
        check=True,
        timeout=60,
    )
    instance = DagsterInstance.from_config(str(home))
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_resume_run_attempts == 0
    # What the Makefile's comment says: this launcher cannot check a run worker's health, so
    # the CLI marks its own dead runs failed.
    assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
    assert not instance.run_launcher.supports_check_run_worker_health
