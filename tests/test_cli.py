"""The `trading-runtime` commands: the per-partition entrypoint and the main job."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import WORKERS, write_config
from dagster import DagsterInstance

from trading_runtime.cli import main
from trading_runtime.config import example_config_path
from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.results import BacktestResult
from trading_runtime.runs.instance import remove_vanished_parts


def test_backtest_command_writes_results_and_reports_failures(
    tmp_path: Path, parts_dir: Path
) -> None:
    (parts_dir / "broken.npz").write_bytes(b"not an npz")
    out = tmp_path / "out"
    args = ["backtest", "--config", str(example_config_path("hftbacktest")), "--out", str(out)]
    parts = sorted(parts_dir.glob("*.npz"))
    result = CliRunner().invoke(main, [*args, *[f"--part={p}" for p in parts]])
    assert result.exit_code == 1
    assert "FAILED broken: part" in result.output and "not a readable .npz" in result.output
    assert result.output.count("ok     part-") == 3
    document = json.loads((out / "part-00000" / "result.json").read_text())
    assert document["provenance"]["engine"] == "hftbacktest"
    assert not list(out.glob(".staging/*"))  # scratch space is cleaned up

    # Re-running into the same --out gives the same content: the same stored version.
    before = BacktestResult.load(out / "part-00000")
    result = CliRunner().invoke(main, [*args, f"--part={parts_dir / 'part-00000.npz'}"])
    assert result.exit_code == 0, result.output
    after = BacktestResult.load(out / "part-00000")
    assert after.directory == before.directory and after.content_hash == before.content_hash
    assert f"chart: {after.chart_path}" in result.output  # the stored chart, printed
    assert after.read_chart() is not None
    assert [p.name for p in (out / "part-00000" / "versions").iterdir()] == [before.directory.name]


def test_aggregate_reads_the_directory_backtest_wrote(tmp_path: Path, parts_dir: Path) -> None:
    """`aggregate --results DIR` on the DIR that `backtest --out DIR` just wrote (results in
    DIR/<part>/), as well as on a results base (DIR/backtest_results/<part>/)."""
    config = str(example_config_path("hftbacktest"))
    part = f"--part={parts_dir / 'part-00000.npz'}"
    for out, results in (
        (tmp_path / "out", tmp_path / "out"),
        (tmp_path / "base" / "backtest_results", tmp_path / "base"),
    ):
        written = CliRunner().invoke(
            main, ["backtest", "--config", config, part, "--out", str(out)]
        )
        assert written.exit_code == 0, written.output
        aggregated = CliRunner().invoke(main, ["aggregate", "--results", str(results)])
        assert aggregated.exit_code == 0, aggregated.output
        assert "1 part(s) -> " in aggregated.output
        table = pq.read_table(results / "aggregate_metrics.parquet")
        assert table["partition"].to_pylist() == ["part-00000", "TOTAL"]
        assert (results / "aggregate_metrics.png").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = CliRunner().invoke(main, ["aggregate", "--results", str(empty)])
    assert refused.exit_code == 1 and "no stored results under" in refused.output


def test_backtest_command_rejects_a_bad_config(tmp_path: Path, parts_dir: Path) -> None:
    config = write_config(tmp_path / "typo.json", strategy__order_qtty=1)
    result = CliRunner().invoke(
        main, ["backtest", "--config", str(config), "--part", str(parts_dir / "part-00000.npz")]
    )
    assert result.exit_code == 1
    assert (
        "FAILED part-00000" in result.output
        and "strategy.order_qtty is not a parameter" in result.output
    )
    config = write_config(tmp_path / "unknown.json", engine__speed=1)
    result = CliRunner().invoke(main, ["backtest", "--config", str(config)])
    assert result.exit_code == 1 and "engine.speed: unknown key" in result.output


def test_backtest_command_applies_overrides(tmp_path: Path, parts_dir: Path) -> None:
    part = str(parts_dir / "part-00000.npz")
    config = str(example_config_path("hftbacktest"))
    runs = {
        "base": [],
        "set": ["--set", "strategy.quote_offset_ticks=2"],
        "json": ["--overrides", '{"strategy.quote_offset_ticks": 2}'],
    }
    hashes = {}
    for name, extra in runs.items():
        out = tmp_path / name
        args = ["backtest", "--config", config, "--part", part, "--out", str(out), *extra]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        document = json.loads((out / "part-00000" / "result.json").read_text())
        hashes[name] = document["provenance"]["config_hash"]
    assert hashes["set"] == hashes["json"] != hashes["base"]

    bad = CliRunner().invoke(
        main, ["backtest", "--config", config, "--part", part, "--set", "engine.tick_sise=1"]
    )
    assert bad.exit_code == 1 and "engine.tick_sise: unknown key" in bad.output
    bad = CliRunner().invoke(main, ["backtest", "--config", config, "--overrides", "[1]"])
    assert bad.exit_code == 2 and "expected a JSON object of dotted keys" in bad.output


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_main_job_end_to_end(tmp_path: Path, parts_dir: Path) -> None:
    """`trading-runtime materialize` as the README runs it, in a fresh process."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
    }
    command = [sys.executable, "-m", "trading_runtime", "materialize"]
    run = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[3/3] ok     part-00002" in run.stdout
    assert "| TOTAL | 12000 |" in run.stdout
    table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
    assert table.num_rows == 4
    stored = BacktestResult.load(tmp_path / "results" / "backtest_results" / "part-00002")
    for chart in (tmp_path / "results" / "aggregate_metrics.png", stored.chart_path):
        assert f"chart: {chart}" in run.stdout and Path(str(chart)).is_file()

    # A part dropped into the directory becomes a partition on the next run; a bad one fails
    # alone, named, and the command exits non-zero after finishing the rest.
    (parts_dir / "part-00000.npz").rename(parts_dir / "part-00010.npz")
    (parts_dir / "zz-bad.npz").write_bytes(b"garbage")
    shutil.copy2(parts_dir / "part-00001.npz", parts_dir / "..npz")  # refused, not run
    run = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 1
    assert "ok     part-00010" in run.stdout
    assert "FAILED zz-bad" in run.stderr and "zz-bad.npz: not a readable .npz file" in run.stderr
    assert "1 partition(s) failed: zz-bad" in run.stderr
    assert run.stderr.count("REFUSED part file ..npz: it starts with '.'") == 1
    assert "1 part file(s) refused: ..npz" in run.stderr and "Traceback" not in run.stderr
    # part-00000's file is gone (renamed): its partition is removed and its stored result, kept
    # on disk, is reported as orphaned instead of being aggregated.
    assert "removed 1 partition(s) whose part file is gone: part-00000" in run.stdout
    assert "1 stored result(s) without a part file, not aggregated (orphaned): part-00000" in (
        run.stderr
    )
    assert (tmp_path / "results" / "backtest_results" / "part-00000" / "result.json").is_file()
    table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == ["part-00001", "part-00002", "part-00010", "TOTAL"]

    # --partition runs only the named partitions; an unknown one is refused before any run.
    unknown = subprocess.run(
        [*command, "--partition", "part-00002", "--partition", "nope"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert unknown.returncode == 1 and "for partition(s) nope" in unknown.stderr
    (parts_dir / "..npz").unlink()
    selected = subprocess.run(
        [*command, "--partition", "part-00002", "--force"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert selected.returncode == 0, selected.stderr[-3000:]  # zz-bad is not selected
    assert "[1/1] ok     part-00002" in selected.stdout and "zz-bad" not in selected.stdout


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_main_job_single_run_covers_every_registered_partition(
    tmp_path: Path, parts_dir: Path
) -> None:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
    }
    command = [sys.executable, "-m", "trading_runtime", "materialize", "--single-run"]
    run = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # A part registered later sorts first by name but comes last in Dagster's partition order.
    shutil.copy2(parts_dir / "part-00001.npz", parts_dir / "a-new.npz")
    # A deleted part file: its partition goes, the single run covers the parts that are left
    # and succeeds (it used to fail every partition), and its old result is not aggregated.
    (parts_dir / "part-00001.npz").unlink()
    run = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "removed 1 partition(s) whose part file is gone: part-00001" in run.stdout
    # Only the new part runs; the others' results are up to date.
    assert "2 partition(s) up to date, 1 to backtest (1 no result)" in run.stdout
    assert "backtesting 1 partition(s) (a-new..a-new) in one run" in run.stdout
    assert "(orphaned): part-00001" in run.stderr
    table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == ["a-new", "part-00000", "part-00002", "TOTAL"]


def test_backtest_refuses_unsafe_part_names_and_keeps_earlier_results(
    tmp_path: Path, parts_dir: Path
) -> None:
    """A part named `..npz` or `.npz` (key `.` or empty) once replaced the whole --out."""
    out = tmp_path / "out"
    config = str(example_config_path("hftbacktest"))
    args = ["backtest", "--config", config, "--out", str(out)]
    first = CliRunner().invoke(main, [*args, *[f"--part={p}" for p in sorted(parts_dir.iterdir())]])
    assert first.exit_code == 0, first.output
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len({p.parts[0] for p in before}) == 3
    for name in ("..npz", ".npz"):
        shutil.copy2(parts_dir / "part-00000.npz", parts_dir / name)

    result = CliRunner().invoke(main, [*args, f"--part={parts_dir / '..npz'}"])
    assert result.exit_code == 1
    assert f"REFUSED {parts_dir / '..npz'}: it starts with '.'" in result.output
    assert "1 part file(s) refused, none to backtest" in result.output
    assert "Traceback" not in result.output
    # Every part in the directory (the default): the refused ones named, one line each, the
    # others run; exit 1 since not every file was taken.
    result = CliRunner().invoke(
        main, args, env={"TRADING_RUNTIME_PARTS_DIR": str(parts_dir)}, catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.output.count("REFUSED") == 2
    assert f"REFUSED {parts_dir / '.npz'}: it is empty" in result.output
    assert result.output.count("ok     part-") == 3
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the same three results, same bytes, nothing at the root

    validate = CliRunner().invoke(main, ["data", "validate", str(parts_dir / "..npz")])
    assert validate.exit_code == 1
    assert f"REFUSED {parts_dir / '..npz'}: it starts with '.'" in validate.output


def _materialize_env(tmp_path: Path, parts_dir: Path) -> dict[str, str]:
    """The environment of `trading-runtime materialize` on a fresh instance under ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    return {
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
        "TRADING_RUNTIME_WORKERS": str(WORKERS),
    }


def test_main_job_runs_only_missing_failed_or_stale_partitions(
    tmp_path: Path, parts_dir: Path
) -> None:
    """A second `make run` with nothing changed starts no engine: it launches no Dagster run.
    A changed part, config or failed partition runs again; --force runs what it is told."""
    env = _materialize_env(tmp_path, parts_dir)

    def materialize(*args: str, exit_code: int = 0) -> str:
        result = CliRunner().invoke(main, ["materialize", *args], env=env)
        assert result.exit_code == exit_code, result.output
        return result.output

    first = materialize()
    assert "0 partition(s) up to date, 3 to backtest (3 no result)" in first
    instance = DagsterInstance.from_config(env["DAGSTER_HOME"])
    runs = instance.get_runs_count()
    aggregate = tmp_path / "results" / "aggregate_metrics.parquet"
    aggregated_at = aggregate.stat().st_mtime_ns

    unchanged = materialize()
    assert "3 partition(s) up to date, 0 to backtest" in unchanged
    assert "aggregate up to date" in unchanged and "aggregating" not in unchanged
    assert instance.get_runs_count() == runs  # no run, so no engine
    assert aggregate.stat().st_mtime_ns == aggregated_at

    # Another part's bytes under part-00000's name: its content changed. (One partition per
    # run, here and below: such runs share one warm engine worker, compiled once.)
    shutil.copy2(parts_dir / "part-00001.npz", parts_dir / "part-00000.npz")
    changed = materialize("--single-run")
    assert "2 partition(s) up to date, 1 to backtest (1 part changed)" in changed
    assert "backtesting 1 partition(s) (part-00000..part-00000) in one run" in changed
    assert "aggregating" in changed
    # The part validated, its backtest (part-00000|base), the aggregate.
    assert instance.get_runs_count() == runs + 3

    config = write_config(tmp_path / "c.json", strategy__order_qty=0.15)
    env["TRADING_RUNTIME_CONFIG"] = str(config)
    edited = materialize()
    assert "0 partition(s) up to date, 3 to backtest (3 config changed)" in edited
    assert "[3/3] ok     part-00002" in edited

    # A partition whose latest run failed runs again, though its older result matches.
    env["TRADING_RUNTIME_CONFIG"] = str(
        write_config(
            tmp_path / "f.json",
            strategy={"class_path": "support.strategies_for_tests:raises_value_error"},
        )
    )
    failing = materialize("--partition", "part-00001", "--force", exit_code=1)
    assert "FAILED part-00001" in failing and "blew up on purpose" in failing
    env["TRADING_RUNTIME_CONFIG"] = str(config)
    retried = materialize()
    assert "2 partition(s) up to date, 1 to backtest (1 last run failed)" in retried
    assert "[1/1] ok     part-00001" in retried

    forced = materialize("--partition", "part-00002", "--force")
    assert "0 partition(s) up to date, 1 to backtest (1 forced)" in forced
    assert "[1/1] ok     part-00002" in forced and "aggregating" in forced
    assert materialize().count("ok     ") == 0


def test_a_deleted_part_put_back_is_aggregated_again(tmp_path: Path, parts_dir: Path) -> None:
    """Its stored result is still up to date, so nothing runs: the part is newly registered,
    and the aggregate made while it was gone must not stay as it is (found by
    tests/test_stateful.py)."""
    env = _materialize_env(tmp_path, parts_dir)

    def materialize() -> str:
        result = CliRunner().invoke(main, ["materialize"], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    def aggregated() -> list[str]:
        table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
        return sorted(table.column("partition").to_pylist())

    materialize()
    part = parts_dir / "part-00002.npz"
    saved = part.read_bytes()
    part.unlink()
    assert "removed 1 partition(s) whose part file is gone" in materialize()
    assert aggregated() == ["TOTAL", "part-00000", "part-00001"]
    part.write_bytes(saved)
    back = materialize()
    assert "3 partition(s) up to date, 0 to backtest" in back and "aggregating" in back
    assert aggregated() == ["TOTAL", "part-00000", "part-00001", "part-00002"]

    # A run stopped after removing a deleted part's partition and before aggregating (what
    # tests/test_stateful.py found with SIGTERM): the next one sees the aggregate list a part
    # that is gone, though no result is newer than it.
    part.unlink()
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert remove_vanished_parts(instance, list_part_keys(parts_dir)) == ["part-00002"]
    after_stop = materialize()
    assert "aggregating" in after_stop
    assert aggregated() == ["TOTAL", "part-00000", "part-00001"]
    assert "aggregate up to date" in materialize()  # and then it is current


def test_info_says_whether_the_framework_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # An image built with INSTALL_FRAMEWORK=false must say so (it is not a production image).
    from importlib import metadata

    from trading_runtime import pins

    installed = metadata.version

    def absent(name: str) -> str:
        if name == "trading-platform":
            raise metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setenv("TRADING_RUNTIME_GIT_COMMIT", "abc123")
    monkeypatch.setattr(pins.metadata, "version", absent)
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert "commit: abc123" in result.output
    assert "framework: absent (trading-platform is not installed" in result.output

    monkeypatch.setattr(
        pins.metadata, "version", lambda name: "0.1.0" if name == "trading-platform" else "x"
    )
    monkeypatch.setenv("TRADING_PLATFORM_COMMIT", "e" * 40)
    result = CliRunner().invoke(main, ["info"])
    assert f"framework: trading-platform 0.1.0 ({'e' * 40})" in result.output


def test_main_job_reruns_a_result_whose_warm_up_neighbour_is_now_another_part(
    tmp_path: Path, parts_dir: Path
) -> None:
    """With a warm-up, a result is stale when the part before it (by first timestamp) is now
    another file, although every file it used is unchanged."""
    env = _materialize_env(tmp_path, parts_dir)
    env["TRADING_RUNTIME_CONFIG"] = str(write_config(tmp_path / "w.json", warmup={"parts": 1}))

    def materialize() -> str:
        result = CliRunner().invoke(main, ["materialize"], env=env)
        assert result.exit_code == 1, result.output  # the first part has no part before it
        return result.output

    first = materialize()
    assert "FAILED part-00000" in first and "[2/3] ok     part-00001" in first
    assert "2 partition(s) up to date" in materialize()

    # Same first timestamp as part-00000, ordered after it by name: part-00001's neighbour now.
    shutil.copy2(parts_dir / "part-00000.npz", parts_dir / "part-00000a.npz")
    moved = materialize()
    reason = "inputs are now part-00000a, part-00001 (the result used part-00000, part-00001)"
    assert "ok     part-00001 (" in moved
    assert f"; {reason})" in moved  # part-00001 ran for that reason
    assert "ok     part-00002" not in moved  # its neighbour is still part-00001
