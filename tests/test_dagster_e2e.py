"""The Dagster UI's servers for real, on loopback: a dropped part runs itself (`dg dev`, as
`make dev` runs it: webserver and daemon), and the UI's GraphQL API reports stale results after
a config edit (`dagster-webserver`)."""

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import WORKERS, write_config
from dagster import DagsterInstance, DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from support.dagster_servers import Server, dg_dev, locations, make_instance, project_env, webserver

from trading_runtime.cli import main
from trading_runtime.defs import build_definitions
from trading_runtime.defs.automation import AUTOMATION_TAG
from trading_runtime.runs.launch import run_partition
from trading_runtime.settings import load_settings

# The real servers: slow (`make test-quick` leaves them out).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

# From the file's appearance to the aggregate: the registration sensor (15 s), the automation
# sensor (15 s), the part's validation run, the next tick, its backtest's run (a subprocess that
# imports the project and compiles the strategy), the next tick, the aggregate's run. Measured:
# see the test's printed line (118 s here alone). A hang guard, sized for a loaded machine.
AUTOMATION_TIMEOUT_S = 480.0


def _aggregated_parts(results: Path) -> list[str]:
    table = results / "aggregate_metrics.parquet"
    return pq.read_table(table)["partition"].to_pylist() if table.exists() else []


def _failure(instance: DagsterInstance, run_id: str) -> str:
    """A run that did not succeed, told by its errors (what the UI's run page shows)."""
    events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event]
    errors = [
        f"{event.event_type_value}: {event.message} {event.event_specific_data}"
        for event in events
        if event.is_failure or getattr(event.event_specific_data, "error", None) is not None
    ]
    return f"run {run_id}: " + ("\n".join(errors) or "no error event")


def test_a_dropped_part_is_backtested_and_aggregated_without_a_click(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    home = tmp_path / "home"
    make_instance(home)
    parts, results = tmp_path / "parts", tmp_path / "results"
    parts.mkdir()
    env = project_env(home, parts_dir=str(parts), results=str(results), workers="1")
    with dg_dev(env, tmp_path) as server:
        # A first start without noise: no "Join the Dagster community" dialog (the Makefile's
        # instance turns it off), the code location named as in `dagster dev`.
        assert server.graphql("{ shouldShowNux }") == {"shouldShowNux": False}
        assert locations(server) == [
            {"name": "trading_runtime", "locationOrLoadError": {"__typename": "RepositoryLocation"}}
        ]
        # Written elsewhere and renamed in: the sensor never sees half a file.
        staged = tmp_path / "part-00007.npz"
        shutil.copy2(generated_parts[0], staged)
        os.replace(staged, parts / staged.name)
        dropped = time.monotonic()
        while "part-00007" not in _aggregated_parts(results):
            assert server.process.poll() is None, server.tail()
            assert time.monotonic() - dropped < AUTOMATION_TIMEOUT_S, (
                f"no aggregate with part-00007 after {AUTOMATION_TIMEOUT_S} s: {server.tail()}"
            )
            time.sleep(1)
        waited = time.monotonic() - dropped
        dropped_at = time.time() - waited
        # The aggregate is written before the same run's leaderboard step: stop the servers only
        # once every run is over, or the stop interrupts that step.
        instance = _wait_for_runs_to_end(server, home)
    assert _aggregated_parts(results) == ["part-00007", "TOTAL"]
    runs = list(instance.get_runs())
    # What the wait was made of (pytest -s shows it): each run's creation, start and end.
    for record in reversed(instance.get_run_records()):
        run, times = record.dagster_run, [record.create_timestamp.timestamp()]
        times += [record.start_time or 0, record.end_time or 0]
        relative = ", ".join(f"{t - dropped_at:.0f}" for t in times)
        print(f"run {sorted(k.to_user_string() for k in run.asset_selection or ())}: {relative} s")
    print(f"dropped part aggregated after {waited:.0f} s")
    assert runs and all(run.tags.get(AUTOMATION_TAG) == "true" for run in runs)
    failures = [_failure(instance, run.run_id) for run in runs if not run.is_success]
    assert not failures, "\n".join(failures)
    # One run for the part, one for its backtest (variant base), one for the aggregate and the
    # leaderboard: nothing twice.
    selections = sorted(
        tuple(sorted(k.to_user_string() for k in run.asset_selection or ())) for run in runs
    )
    assert selections == [
        ("aggregate_metrics", "sweep_leaderboard"),
        ("backtest_results",),
        ("parts",),
    ]


STALENESS = """
query Staleness($partitions: [String!]) {
  results: assetNodes(assetKeys: [{path: ["backtest_results"]}]) {
    staleStatusByPartition(partitions: $partitions)
    staleCausesByPartition(partitions: $partitions) { reason category }
  }
  aggregate: assetNodes(assetKeys: [{path: ["aggregate_metrics"]}]) {
    staleStatus
    staleCauses { key { path } partitionKey reason category }
  }
}
"""


def _staleness(server: Server, partitions: list[str]) -> dict[str, dict[str, Any]]:
    """The UI's staleness of backtest_results (per partition) and aggregate_metrics."""
    data = server.graphql(STALENESS, {"partitions": partitions})
    return {"backtest_results": data["results"][0], "aggregate_metrics": data["aggregate"][0]}


# DagsterGraphQLClient's query through gql, whose newer versions deprecate the way it is called.
@pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning")
def test_the_ui_marks_results_stale_after_a_config_edit(tmp_path: Path, parts_dir: Path) -> None:
    home = tmp_path / "home"
    make_instance(home)
    config = write_config(tmp_path / "config.json")
    settings = {
        "parts_dir": str(parts_dir),
        "results": str(tmp_path / "results"),
        "config": str(config),
        "workers": str(WORKERS),
    }
    env = project_env(home, **settings)
    materialized = CliRunner().invoke(main, ["materialize"], env=env)
    assert materialized.exit_code == 0, materialized.output
    keys = ["part-00000|base", "part-00001|base", "part-00002|base"]
    with webserver({**env, "TRADING_RUNTIME_AUTOMATION": "off"}, tmp_path) as server:
        fresh = _staleness(server, keys)
        assert fresh["backtest_results"]["staleStatusByPartition"] == ["FRESH"] * 3
        assert fresh["aggregate_metrics"]["staleStatus"] == "FRESH"

        # The config edited, the code location reloaded (the UI's "Reload definitions").
        write_config(config, strategy__order_qty=0.15)
        DagsterGraphQLClient("127.0.0.1", port_number=server.port).reload_repository_location(
            "trading_runtime.definitions"
        )
        edited = _staleness(server, keys)
        results = edited["backtest_results"]
        assert results["staleStatusByPartition"] == ["STALE"] * 3
        assert all(
            causes == [{"reason": "has a new code version", "category": "CODE"}]
            for causes in results["staleCausesByPartition"]
        ), results["staleCausesByPartition"]
        assert edited["aggregate_metrics"]["staleStatus"] == "FRESH"  # its inputs are unchanged

        # One result made again (and the aggregate not yet): the aggregate is stale.
        defs = build_definitions(load_settings(env))
        instance = DagsterInstance.from_config(str(home))
        assert run_partition(
            defs.resolve_job_def("backtest_parts"), instance, "part-00001|base"
        ).success
        newer = _staleness(server, keys)
        assert newer["backtest_results"]["staleStatusByPartition"] == ["STALE", "FRESH", "STALE"]
        aggregate = newer["aggregate_metrics"]
        assert aggregate["staleStatus"] == "STALE", aggregate
        # The cause names the result's partition.
        assert aggregate["staleCauses"] == [
            {
                "key": {"path": ["backtest_results"]},
                "partitionKey": "part-00001|base",
                "reason": "has a new data version",
                "category": "DATA",
            }
        ], aggregate["staleCauses"]


def _wait_for_runs_to_end(server: Server, home: Path) -> DagsterInstance:
    """Every run of the instance at ``home`` finished (the servers may stop now)."""
    instance = DagsterInstance.from_config(str(home))
    started = time.monotonic()
    while any(not r.is_finished for r in instance.get_runs()):
        assert time.monotonic() - started < AUTOMATION_TIMEOUT_S, server.tail()
        time.sleep(1)
    return instance


def _wait_for_aggregate(server: Server, results: Path, expected: list[str]) -> float:
    started = time.monotonic()
    while _aggregated_parts(results) != expected:
        assert server.process.poll() is None, server.tail()
        assert time.monotonic() - started < 2 * AUTOMATION_TIMEOUT_S, (
            f"aggregate {_aggregated_parts(results)}, not {expected}: {server.tail()}"
        )
        time.sleep(1)
    return time.monotonic() - started


@pytest.mark.timeout(900)  # two rounds of sensor, conversion, backtest and aggregate
def test_a_dropped_raw_file_ends_in_the_aggregate_and_a_changed_one_reruns_its_parts(
    tmp_path: Path,
) -> None:
    """Raw file -> raw_market_data -> parts -> backtest_results -> aggregate_metrics with no
    click; rewritten shorter, it is converted again and only the part it changed runs again."""
    from support.raw_files import binance_lines, write_gzip_lines

    hours = ["BTCUSDT-20240102-0000", "BTCUSDT-20240102-0100", "BTCUSDT-20240102-0200"]
    home = tmp_path / "home"
    make_instance(home)
    raw, results = tmp_path / "raw", tmp_path / "results"
    (raw / "binancefutures").mkdir(parents=True)
    env = project_env(
        home, parts_dir=str(tmp_path / "parts"), raw_dir=str(raw), results=str(results),
        workers="1",
    )  # fmt: skip
    target = raw / "binancefutures" / "btcusdt_20240102.gz"
    with dg_dev(env, tmp_path) as server:
        os.replace(write_gzip_lines(tmp_path / "a.gz", binance_lines(minutes=150)), target)
        waited = _wait_for_aggregate(server, results, [*hours, "TOTAL"])
        print(f"dropped raw file aggregated after {waited:.0f} s")
        os.replace(write_gzip_lines(tmp_path / "b.gz", binance_lines(minutes=90)), target)
        waited = _wait_for_aggregate(server, results, [*hours[:2], "TOTAL"])
        print(f"changed raw file aggregated after {waited:.0f} s")
        # The aggregate may come before the re-run of hour 1 is over: wait for its run too.
        _wait_for_runs_to_end(server, home)
    runs = list(reversed(DagsterInstance.from_config(str(home)).get_runs()))
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    # Automation: the conversion, one backfill of its three parts, the aggregate; then the
    # sensor: the conversion again and only the part whose bytes changed; the aggregate.
    steps = [
        (
            run.job_name if run.asset_selection is None else
            ",".join(sorted(k.to_user_string() for k in run.asset_selection)),
            run.tags.get("dagster/partition")
            or run.tags.get("dagster/asset_partition_range_start"),
        )
        for run in runs
    ]  # fmt: skip
    assert steps == [
        ("raw_market_data", "binancefutures-btcusdt_20240102.gz"),
        ("parts", hours[0]),
        ("backtest_results", f"{hours[0]}|base"),
        ("aggregate_metrics,sweep_leaderboard", None),
        ("convert_raw", "binancefutures-btcusdt_20240102.gz"),
        ("validate_parts", hours[1]),
        ("backtest_parts", f"{hours[1]}|base"),
        ("aggregate_metrics,sweep_leaderboard", None),
    ], steps
