"""Sweep variants as a partition dimension: `materialize --sweep` through Dagster, the variants'
results where the Argo batch and `trading-runtime sweep` put them (equal content hashes), the
leaderboard asset, sweep files registered and removed, and the migration of an instance made
before variants."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetPartitionStatus,
    DagsterInstance,
    SensorResult,
    build_sensor_context,
    instance_for_test,
)
from support.sensor_ticks import apply_partition_requests

from trading_runtime.cli import main
from trading_runtime.config import example_config_path
from trading_runtime.defs.partitions import result_partitions
from trading_runtime.defs.resources import BacktestRunner
from trading_runtime.defs.sweep_sensors import register_sweep_files
from trading_runtime.results import BacktestResult
from trading_runtime.runs.variants import Box, result_boxes

CONFIG = str(example_config_path("hftbacktest"))
GRID = {"strategy.quote_offset_ticks": [0, 1]}


def _env(tmp_path: Path, parts_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
        "TRADING_RUNTIME_SWEEPS_DIR": str(tmp_path / "sweeps"),
    }


def _materialize(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trading_runtime", "materialize", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=cwd)


def _variant_keys(stdout: str) -> list[str]:
    return [
        line.split()[1].rstrip(":") for line in stdout.splitlines() if line.startswith("variant ")
    ]


def test_materialize_sweep_runs_variants_through_dagster_and_ranks_them(
    tmp_path: Path, parts_dir: Path
) -> None:
    env = _env(tmp_path, parts_dir)
    (tmp_path / "home").mkdir()
    sweep = tmp_path / "grid.json"
    sweep.write_text(json.dumps(GRID))
    run = _materialize(env, tmp_path, "--sweep", str(sweep), "--single-run")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"sweep {sweep} registered as {tmp_path / 'sweeps' / 'grid.json'}" in run.stdout
    keys = _variant_keys(run.stdout)
    assert len(keys) == 2 and all(k.startswith("quote_offset_ticks=") for k in keys), run.stdout
    # Both variants over the three parts: one box, one run.
    assert "backtesting 6 partition(s) (part-00000..part-00002 x " in run.stdout
    assert "sweep leaderboard (2 variants):" in run.stdout
    results = tmp_path / "results"
    for name in ("leaderboard.parquet", "leaderboard.json", "leaderboard_heatmap.png"):
        assert (results / name).is_file(), name

    # Where `trading-runtime sweep` (and the Argo batch) store the same variant, the same
    # content hash; and the same as a plain `backtest --set`.
    one = next(k for k in keys if k.startswith("quote_offset_ticks=1-"))
    variant_id = one.rsplit("-", 1)[1]
    dagster = BacktestResult.load(results / variant_id / "backtest_results" / "part-00001")
    out = tmp_path / "sweep-cli"
    parts = [f"--part={p}" for p in sorted(parts_dir.glob("*.npz"))]
    swept = CliRunner().invoke(
        main, ["sweep", "--config", CONFIG, "--sweep", str(sweep), *parts, "--out", str(out)]
    )
    assert swept.exit_code == 0, swept.output
    cli = BacktestResult.load(out / variant_id / "backtest_results" / "part-00001")
    assert dagster.content_hash == cli.content_hash
    single = tmp_path / "single"
    overrides = ["--set", "strategy.quote_offset_ticks=1"]
    plain = CliRunner().invoke(
        main, ["backtest", "--config", CONFIG, parts[1], *overrides, "--out", str(single)]
    )
    assert plain.exit_code == 0, plain.output
    assert BacktestResult.load(single / "part-00001").content_hash == dagster.content_hash

    # Incremental: the base config and both variants up to date (the sweep file is registered).
    again = _materialize(env, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("3 partition(s) up to date, 0 to backtest") == 2
    assert "variant base: 0 partition(s) up to date, 3 to backtest" in again.stdout
    instance = DagsterInstance.from_config(str(tmp_path / "home"))
    assert set(instance.get_dynamic_partitions("variants")) == {"base", *keys}
    status = instance.get_status_by_partition(
        AssetKey("backtest_results"),
        [f"part-00001|{key}" for key in ["base", *keys]],
        result_partitions,
    )
    assert status is not None and set(status.values()) == {AssetPartitionStatus.MATERIALIZED}

    # The sweep file removed: its variants' partitions go, their results stay.
    (tmp_path / "sweeps" / "grid.json").unlink()
    third = _materialize(env, tmp_path)
    assert third.returncode == 0, third.stderr[-3000:]
    assert instance.get_dynamic_partitions("variants") == ["base"]
    assert (results / variant_id / "backtest_results" / "part-00001" / "result.json").is_file()


def test_a_sweep_file_that_does_not_plan_is_named_and_the_rest_runs(
    tmp_path: Path, parts_dir: Path
) -> None:
    env = _env(tmp_path, parts_dir)
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    (sweeps / "typo.json").write_text(json.dumps({"strategy.quote_ofset_ticks": [0, 1]}))
    run = _materialize(env, tmp_path, "--partition", "part-00000")
    assert run.returncode == 1
    assert "SWEEP FILE LEFT OUT typo.json: sweep " in run.stderr
    assert "quote_ofset_ticks" in run.stderr and "Traceback" not in run.stderr
    assert "[1/1] ok     part-00000" in run.stdout  # the base config ran all the same
    # --sweep with a bad file: nothing runs, nothing is registered.
    bad = _materialize(env, tmp_path, "--sweep", str(sweeps / "typo.json"))
    assert bad.returncode == 1 and "quote_ofset_ticks" in bad.stderr
    assert "ok" not in bad.stdout


def _tick(instance: DagsterInstance, runner: BacktestRunner, cursor: str | None) -> SensorResult:
    context = build_sensor_context(
        instance=instance, resources={"backtest_runner": runner}, cursor=cursor
    )
    return apply_partition_requests(instance, register_sweep_files(context))


def test_the_sweep_sensor_registers_variants_and_reports_a_bad_file_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    sweeps = tmp_path / "sweeps"
    runner = BacktestRunner(config_path=CONFIG, timeout_s=60, workers=1, sweeps_dir=str(sweeps))
    with instance_for_test() as instance:
        result = _tick(instance, runner, None)
        assert instance.get_dynamic_partitions("variants") == ["base"]
        sweeps.mkdir()
        (sweeps / "grid.json").write_text(json.dumps(GRID))
        (sweeps / "bad.json").write_text("[{")
        capfd.readouterr()
        result = _tick(instance, runner, result.cursor)
        variants = instance.get_dynamic_partitions("variants")
        assert variants[0] == "base" and len(variants) == 3
        assert all("|" not in key and "," not in key for key in variants)
        assert capfd.readouterr().err.count("sweep file bad.json: sweep ") == 1
        result = _tick(instance, runner, result.cursor)
        assert not result.dynamic_partitions_requests
        assert "bad.json" not in capfd.readouterr().err  # reported once
        (sweeps / "grid.json").unlink()
        _tick(instance, runner, result.cursor)
        assert instance.get_dynamic_partitions("variants") == ["base"]


def test_result_boxes_group_variants_with_the_same_parts() -> None:
    parts = ["p0", "p1", "p2", "p3"]
    variants = ["base", "a", "b", "c"]
    to_run: dict[str, Any] = {"base": ["p3"], "a": parts, "b": parts, "c": ["p0", "p2"]}
    assert result_boxes(parts, variants, to_run) == [
        Box(["p3"], ["base"]),
        Box(parts, ["a", "b"]),
        Box(["p0"], ["c"]),
        Box(["p2"], ["c"]),
    ]
    # Same parts, but not neighbours in registration order: separate boxes.
    assert result_boxes(parts, variants, {"a": ["p0"], "c": ["p0"]}) == [
        Box(["p0"], ["a"]),
        Box(["p0"], ["c"]),
    ]


def test_migrate_instance_keeps_results_made_before_variants_up_to_date(
    tmp_path: Path, parts_dir: Path
) -> None:
    """An instance of the earlier version: results stored per part and recorded under the part's
    key. `migrate-instance` records them under <part>|base: `materialize` runs nothing."""
    env = _env(tmp_path, parts_dir)
    home = tmp_path / "home"
    home.mkdir()
    results = tmp_path / "results" / "backtest_results"
    parts = sorted(parts_dir.glob("*.npz"))
    stored = CliRunner().invoke(
        main,
        ["backtest", "--config", CONFIG, *[f"--part={p}" for p in parts], "--out", str(results)],
    )
    assert stored.exit_code == 0, stored.output
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("parts", [p.stem for p in parts])
        for part in parts:
            result = BacktestResult.load(results / part.stem)
            metadata = {name: result.provenance[name] for name in ("config_hash", "content_hash")}
            instance.report_runless_asset_event(
                AssetMaterialization(
                    "backtest_results",
                    partition=part.stem,
                    metadata=metadata,
                    tags={"dagster/data_version": result.content_hash},
                )
            )
    before = _materialize(env, tmp_path, "--partition", "part-00000")
    assert "1 to backtest (1 not recorded in the Dagster instance)" in before.stdout
    migrate = [sys.executable, "-m", "trading_runtime", "migrate-instance"]
    migrated = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    # part-00000 has its new key already (the run above): the other two are migrated.
    assert "2 of 3 part(s) migrated to <part>|base: part-00001, part-00002" in migrated.stdout
    again = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=300)
    assert "0 of 3 part(s) migrated" in again.stdout  # idempotent
    after = _materialize(env, tmp_path)
    assert after.returncode == 0, after.stderr[-3000:]
    assert "3 partition(s) up to date, 0 to backtest" in after.stdout
