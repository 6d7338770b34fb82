"""The Dagster instance on a real PostgreSQL server, through dagster-postgres at the locked versions
(what the Helm deployment and k8s/dagster.yaml run): the main job, concurrent processes, and
k8s/dagster.yaml's storage section.

Needs a server: TRADING_RUNTIME_TEST_POSTGRES_URL=postgresql://user:password@host:port/db, a role
that may create databases (scripts/postgres-test-server.sh starts a throw-away one; `.ci/run`
does). Without it these tests skip, except under CI=true, where they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    job,
    op,
)
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from sqlalchemy.engine import make_url

from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.defs import build_definitions
from trading_runtime.results.store import load_results
from trading_runtime.runs.instance import register_parts
from trading_runtime.runs.launch import (
    failure_messages,
    run_aggregate,
    run_partition,
    run_partition_range,
)
from trading_runtime.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parent.parent
PARTS = "parts"
# Bound on each concurrent `materialize` process (start-up, numba compilation and the run).
PROCESS_TIMEOUT_S = 240


@pytest.fixture
def postgres_home(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """DAGSTER_HOME whose dagster.yaml keeps runs, events and schedules in the fresh database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_config = {
        "storage": {"postgres": {"postgres_url": database_url}},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # Creates the schema once, as the webserver or daemon does before any run pod starts.
    instance = DagsterInstance.from_config(str(home))
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    instance.dispose()
    yield home


def _materializations(instance: DagsterInstance, asset: str) -> list[Any]:
    return list(
        instance.fetch_materializations(AssetKey(asset), limit=1000, ascending=True).records
    )


def _content_hashes_by_run(records: list[Any]) -> dict[tuple[str, str | None], str]:
    """(run id, partition) -> the content hash in that materialization's metadata."""
    found: dict[tuple[str, str | None], str] = {}
    for record in records:
        metadata = record.asset_materialization.metadata
        found[(record.run_id, record.partition_key)] = metadata["content_hash"].value
    return found


def _assert_each_run_recorded_once(instance: DagsterInstance, run_ids: list[str]) -> None:
    """Every run is SUCCESS, with exactly one start and one success event in the event log."""
    assert len(run_ids) == len(set(run_ids))
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS, (run_id, run)
        for event_type in (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS):
            events = instance.get_records_for_run(run_id, of_type=event_type).records
            assert len(events) == 1, (run_id, event_type, len(events))


def _assert_stored_results_match(
    results: str, keys: list[str], recorded: dict[tuple[str, str | None], str]
) -> None:
    """Each stored result is readable, and its content hash is the one every materialization of
    its partition recorded (the small generated parts are reproducible bit for bit)."""
    stored = load_results(results, keys)
    assert sorted(stored) == sorted(keys)
    for key, result in stored.items():
        assert result.read_curve().num_rows == result.metrics["records"] > 0, key
        hashes = {value for (_, partition), value in recorded.items() if partition == f"{key}|base"}
        assert hashes == {result.content_hash}, key


def test_postgresql_urls_use_the_driver_dagster_postgres_installs() -> None:
    """No server needed. SQLAlchemy 2.1 maps postgresql:// to psycopg 3, which dagster-postgres
    0.29 neither installs nor supports; both locks keep SQLAlchemy 2.0 and psycopg2."""
    assert make_url("postgresql://dagster@localhost/dagster").get_dialect().driver == "psycopg2"
    for lock in ("requirements.txt", "requirements-framework.txt"):
        pins = dict(
            line.split("==", 1)
            for line in (ROOT / lock).read_text().splitlines()
            if "==" in line and not line.startswith((" ", "#"))
        )
        assert pins["sqlalchemy"].startswith("2.0."), lock
        assert "psycopg2-binary" in pins, lock


def test_main_job_on_postgres(postgres_home: Path, settings: RuntimeSettings) -> None:
    """Both forms of the CLI's main job: a single-run backfill over every partition, then one run
    per partition and the aggregate; every run and materialization read back from the server."""
    keys = list_part_keys(settings.parts_dir)
    instance = DagsterInstance.from_config(str(postgres_home))
    try:
        assert register_parts(instance, keys) == keys
        assert register_parts(instance, keys) == []
        defs = build_definitions(settings)
        validate = defs.resolve_job_def("validate_parts")
        backtest = defs.resolve_job_def("backtest_parts")
        validated = run_partition_range(validate, instance, keys)
        assert validated.success, failure_messages(validated)
        # First, so both engine workers start (and compile) at once.
        backfill = run_partition_range(backtest, instance, [f"{k}|base" for k in keys])
        assert backfill.success, failure_messages(backfill)
        partition_run_ids, validate_run_ids = [], []
        for key in keys:
            check = run_partition(validate, instance, key)
            assert check.success, failure_messages(check)
            validate_run_ids.append(check.run_id)
            result = run_partition(backtest, instance, f"{key}|base")
            assert result.success, failure_messages(result)
            partition_run_ids.append(result.run_id)
        aggregate = run_aggregate(defs.resolve_job_def("aggregate"), instance)
        assert aggregate.success, failure_messages(aggregate)
    finally:
        instance.dispose()
    run_ids = [
        validated.run_id,
        backfill.run_id,
        *validate_run_ids,
        *partition_run_ids,
        aggregate.run_id,
    ]

    # A new instance: new connections, nothing cached from the runs above.
    instance = DagsterInstance.from_config(str(postgres_home))
    try:
        assert instance.get_dynamic_partitions(PARTS) == keys
        assert sorted(run.run_id for run in instance.get_runs()) == sorted(run_ids)
        _assert_each_run_recorded_once(instance, run_ids)
        for asset, partitions in (
            ("parts", keys),
            ("backtest_results", [f"{k}|base" for k in keys]),
        ):
            records = _materializations(instance, asset)
            # One per partition from the backfill, one more from the per-partition runs.
            assert Counter(r.partition_key for r in records) == dict.fromkeys(partitions, 2)
            assert len({r.storage_id for r in records}) == len(records)
        recorded = _content_hashes_by_run(_materializations(instance, "backtest_results"))
        _assert_stored_results_match(settings.results, keys, recorded)
        (aggregate_record,) = _materializations(instance, "aggregate_metrics")
        metadata = aggregate_record.asset_materialization.metadata
        assert metadata["parts"].value == len(keys)
        assert metadata["parts_without_result"].value == 0
        assert "| TOTAL |" in metadata["table"].value
        # Each per-partition run's determinism check read the backfill's materialization back.
        for run_id in partition_run_ids:
            evaluations = [
                record.event_log_entry.dagster_event.asset_check_evaluation_data
                for record in instance.get_records_for_run(
                    run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
                ).records
            ]
            (evaluation,) = [e for e in evaluations if e.check_name == "result_is_deterministic"]
            assert evaluation.passed
            assert evaluation.metadata["compared_with_previous_run"].value == 1
    finally:
        instance.dispose()


def test_concurrent_processes_record_every_run_once(
    tmp_path: Path, postgres_home: Path, generated_parts: list[Path]
) -> None:
    """`trading-runtime materialize` in four processes at once on one instance and one results
    store: three different partitions, and a fourth process on the third partition again."""
    results = tmp_path / "results"
    different = [part.stem for part in generated_parts]
    duplicated = different[-1]
    # One parts directory (one instance belongs to one), each process on its own partition; two
    # on the same one.
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    for part in generated_parts:
        shutil.copy2(part, parts_dir / part.name)
    expected_keys = [*different, duplicated]

    base_env = {
        **os.environ,
        "DAGSTER_HOME": str(postgres_home),
        "TRADING_RUNTIME_RESULTS": str(results),
        "TRADING_RUNTIME_WORKERS": "1",
        "TRADING_RUNTIME_TIMEOUT_S": "120",
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
    }
    command = [sys.executable, "-m", "trading_runtime", "materialize"]
    processes = []
    for key in expected_keys:
        processes.append(
            subprocess.Popen(
                # --force: the subject is concurrent recording, so every process runs its
                # partition even when another one has already made its result.
                [*command, "--partition", key, "--force"],
                env=base_env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outputs.append((process.returncode, stdout, stderr))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    for (returncode, stdout, stderr), key in zip(outputs, expected_keys, strict=True):
        assert returncode == 0, f"{key}: {stdout[-2000:]}\n{stderr[-3000:]}"
        assert f"[1/1] ok     {key}" in stdout

    instance = DagsterInstance.from_config(str(postgres_home))
    try:
        # The concurrent registrations of the same key left one partition.
        assert sorted(instance.get_dynamic_partitions(PARTS)) == sorted(different)
        runs = instance.get_runs()
        validate_runs = [run for run in runs if run.job_name == "validate_parts"]
        backtest_runs = [run for run in runs if run.job_name == "backtest_parts"]
        aggregate_runs = [run for run in runs if run.job_name == "aggregate"]
        assert len(runs) == len(validate_runs) + len(backtest_runs) + len(aggregate_runs)
        assert len(runs) == 3 * len(processes)
        assert sorted(run.tags["dagster/partition"] for run in validate_runs) == sorted(
            expected_keys
        )
        assert sorted(run.tags["dagster/partition"] for run in backtest_runs) == sorted(
            f"{key}|base" for key in expected_keys
        )
        _assert_each_run_recorded_once(instance, [run.run_id for run in runs])
        for asset, asset_runs in (("parts", validate_runs), ("backtest_results", backtest_runs)):
            records = _materializations(instance, asset)
            # Exactly one materialization per (run, partition), from the runs that exist.
            assert Counter((r.run_id, r.partition_key) for r in records) == {
                (run.run_id, run.tags["dagster/partition"]): 1 for run in asset_runs
            }, asset
        aggregates = _materializations(instance, "aggregate_metrics")
        assert sorted(r.run_id for r in aggregates) == sorted(run.run_id for run in aggregate_runs)
        recorded = _content_hashes_by_run(_materializations(instance, "backtest_results"))
        _assert_stored_results_match(str(results), different, recorded)
    finally:
        instance.dispose()


def _k8s_storage_instance_config(database_url: str) -> dict[str, Any]:
    """k8s/dagster.yaml for this server: the storage section's values replaced by the test
    server's (the password still comes from DAGSTER_PG_PASSWORD, as in the file), and the rest
    of the file kept except the K8sRunLauncher, which needs a cluster."""
    document = yaml.safe_load((ROOT / "k8s" / "dagster.yaml").read_text())
    db = document["storage"]["postgres"]["postgres_db"]
    assert set(db) == {"hostname", "username", "password", "db_name", "port"}
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    url = make_url(database_url)
    db.update(hostname=url.host, port=url.port, username=url.username, db_name=url.database)
    del document["run_launcher"]
    document["telemetry"] = {"enabled": False}
    return document


@op
def _one() -> int:
    return 1


@job
def _round_trip() -> None:
    _one()


def test_k8s_instance_storage_round_trip(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "k8s_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(_k8s_storage_instance_config(database_url)))
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", make_url(database_url).password or "")

    instance = DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        result = _round_trip.execute_in_process(instance=instance)
        assert result.success
        instance.add_dynamic_partitions(PARTS, ["part-a", "part-b"])
    finally:
        instance.dispose()

    instance = DagsterInstance.from_config(str(home))
    try:
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert run.job_name == "_round_trip"
        assert len(instance.get_records_for_run(result.run_id).records) > 0
        assert instance.get_dynamic_partitions(PARTS) == ["part-a", "part-b"]
    finally:
        instance.dispose()
