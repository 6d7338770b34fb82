"""Damaged results are noticed: the plan re-runs them, the aggregate and the IO manager refuse
them with one line naming the file, and verifying a clean result again reads no file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from upath import UPath

from trading_runtime.backtest.inputs import keyed_locations
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.cli import main
from trading_runtime.config import BacktestConfig
from trading_runtime.defs.io_managers import BacktestResultsIOManager
from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.freshness.plan import BacktestPlan, PartitionStatuses, plan_backtests
from trading_runtime.layout import RESULT_FILE, RESULTS_DIR, VERSIONS_DIR
from trading_runtime.results import BacktestResult, ResultIntegrityError
from trading_runtime.results.store import load_results, publish_result_files

OLD_S = 3600  # result files older than the hash cache's racy window


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory,
    generated_parts: list[Path],
    hft_config: BacktestConfig,
) -> Path:
    """A results base with two stored results (published once for the module)."""
    base = tmp_path_factory.mktemp("stored") / "results"
    outcomes = backtest_and_publish(
        hft_config, keyed_locations(generated_parts[:2]), str(base / RESULTS_DIR), workers=2
    )
    assert all(isinstance(o, BacktestResult) for o in outcomes.values()), outcomes
    old = os.stat(base).st_mtime - OLD_S
    for path in base.rglob("*"):
        os.utime(path, (old, old))
    return base


@pytest.fixture
def results(tmp_path: Path, stored: Path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(stored, copy)  # copy2: the old mtimes stay
    return copy


def _version_dir(results: Path, key: str) -> Path:
    return (
        results
        / RESULTS_DIR
        / key
        / VERSIONS_DIR
        / BacktestResult.load(results / RESULTS_DIR / key).directory.name
    )


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its mtime put back


def _flip_curve(results: Path, key: str) -> str:
    _flip_byte(_version_dir(results, key) / "curve.parquet")
    return "curve.parquet altered"


def _flip_version_json(results: Path, key: str) -> str:
    _flip_byte(_version_dir(results, key) / RESULT_FILE)
    return f"{RESULT_FILE} altered"


def _delete_version(results: Path, key: str) -> str:
    shutil.rmtree(_version_dir(results, key))
    return "missing"


def _delete_chart(results: Path, key: str) -> str:
    (_version_dir(results, key) / "chart.png").unlink()
    return "chart.png missing"


def _truncate_pointer(results: Path, key: str) -> str:
    pointer = results / RESULTS_DIR / key / RESULT_FILE
    pointer.write_bytes(pointer.read_bytes()[:50])
    return f"{RESULT_FILE} unreadable"


def _foreign_pointer(results: Path, key: str) -> str:
    (results / RESULTS_DIR / key / RESULT_FILE).write_text('["not", "a", "result"]')
    return f"{RESULT_FILE} unreadable"


def _alter_pointer(results: Path, key: str) -> str:
    """A change that leaves result.json a result: another content hash."""
    pointer = results / RESULTS_DIR / key / RESULT_FILE
    document = json.loads(pointer.read_text())
    document["provenance"]["content_hash"] = "0" * 64
    pointer.write_text(json.dumps(document, sort_keys=True, indent=1) + "\n")
    return f"{RESULT_FILE} altered"


DAMAGE: dict[str, Callable[[Path, str], str]] = {
    "byte flipped in curve.parquet": _flip_curve,
    "byte flipped in the version's result.json": _flip_version_json,
    "version directory deleted": _delete_version,
    "chart deleted": _delete_chart,
    "result.json truncated": _truncate_pointer,
    "result.json foreign": _foreign_pointer,
    "result.json altered, still a result": _alter_pointer,
}


def _plan(
    results: Path, parts: list[Path], config: BacktestConfig, **kwargs: object
) -> BacktestPlan:
    keys = [part.stem for part in parts[:2]]
    return plan_backtests(
        keys,
        statuses=PartitionStatuses(materialized=frozenset(keys)),
        config=config,
        parts_dir=str(parts[0].parent),
        results=str(results),
        hashes=PartHashCache(),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_plan_backtests_a_damaged_result_again(
    damage: str, results: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    clean = _plan(results, generated_parts, hft_config)
    assert clean.to_run == {} and len(clean.up_to_date) == 2
    key = generated_parts[1].stem
    what = DAMAGE[damage](results, key)
    plan = _plan(results, generated_parts, hft_config)
    assert list(plan.to_run) == [key], plan
    assert plan.to_run[key].startswith("damaged: ") and what in plan.to_run[key]
    assert plan.up_to_date == [generated_parts[0].stem]


@pytest.mark.parametrize("damage", DAMAGE)
def test_aggregate_refuses_a_damaged_result_in_one_line_naming_it(
    damage: str, results: Path, generated_parts: list[Path]
) -> None:
    key = generated_parts[1].stem
    DAMAGE[damage](results, key)
    outcome = CliRunner().invoke(main, ["aggregate", "--results", str(results)])
    assert outcome.exit_code == 1, outcome.output
    (line,) = outcome.output.strip().splitlines()
    assert line.startswith("Error: 1 stored result(s) damaged"), line
    assert f"{results / RESULTS_DIR / key}" in line and "JSONDecodeError" not in line
    assert not (results / "aggregate_metrics.png").exists()


@pytest.mark.parametrize("damage", DAMAGE)
def test_the_io_manager_refuses_to_load_a_damaged_result(
    damage: str, results: Path, generated_parts: list[Path]
) -> None:
    key = generated_parts[1].stem
    DAMAGE[damage](results, key)
    manager = BacktestResultsIOManager(UPath(results))
    with pytest.raises(ResultIntegrityError) as raised:
        # The context is not used (Dagster's build_input_context upsets pytest's summary here).
        manager.load_from_path(None, UPath(results / RESULTS_DIR / key))  # type: ignore[arg-type]
    assert "\n" not in str(raised.value) and str(results / RESULTS_DIR / key) in str(raised.value)


def test_an_unreadable_result_json_is_one_line_naming_it(results: Path) -> None:
    key = sorted(p.name for p in (results / RESULTS_DIR).iterdir())[0]
    _truncate_pointer(results, key)
    pointer = results / RESULTS_DIR / key / RESULT_FILE
    for load in (
        lambda: BacktestResult.load(results / RESULTS_DIR / key),
        lambda: load_results(results),
    ):
        with pytest.raises(ResultIntegrityError, match="is not a result.json") as raised:
            load()
        assert str(pointer) in str(raised.value) and "\n" not in str(raised.value)
    damaged: dict[str, ResultIntegrityError] = {}
    assert len(load_results(results, damaged=damaged)) == 1 and list(damaged) == [key]


def test_verifying_clean_results_again_reads_no_file(
    tmp_path: Path, results: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    cache_file = tmp_path / "home" / "result-hashes.json"
    first = _plan(results, generated_parts, hft_config, result_hashes=PartHashCache(cache_file))
    assert first.to_run == {} and first.verified >= 8  # every listed file of both, read once
    again = _plan(results, generated_parts, hft_config, result_hashes=PartHashCache(cache_file))
    assert again.to_run == {} and again.verified == 0  # size and mtime: from the cache
    key = generated_parts[1].stem
    _delete_chart(results, key)
    damaged = _plan(results, generated_parts, hft_config, result_hashes=PartHashCache(cache_file))
    assert list(damaged.to_run) == [key]


@pytest.mark.parametrize(
    "damage",
    ["byte flipped in curve.parquet", "byte flipped in the version's result.json", "chart deleted"],
)
def test_publishing_the_same_bytes_again_mends_a_damaged_version(
    damage: str, tmp_path: Path, results: Path, generated_parts: list[Path]
) -> None:
    """What `make run` does to a damaged result: back to the engine, whose output is often
    byte-identical, so its version has the damaged one's name. That version is stored again."""
    key = generated_parts[1].stem
    version = _version_dir(results, key)
    staging = tmp_path / "staging"
    shutil.copytree(version, staging)  # what a byte-identical re-run stages
    DAMAGE[damage](results, key)
    assert publish_result_files(staging, UPath(results / RESULTS_DIR / key)) == version.name
    BacktestResult.load(results / RESULTS_DIR / key).verify()
    assert not [p.name for p in version.parent.iterdir() if p.name.startswith(".")]
