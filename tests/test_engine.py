"""The engine port on generated data: outputs, determinism, and every way a run can fail."""

import time
from pathlib import Path

import hftbacktest
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_config
from hftbacktest.stats import LinearAssetRecord
from hftbacktest.types import record_dtype

from trading_runtime.adapters import EngineError, StrategyLoadError
from trading_runtime.backtest.fan_out import BacktestTask, backtest_part, backtest_tasks
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import BacktestConfig, load_config
from trading_runtime.data.validate import PartValidationError, validate_part
from trading_runtime.results.metrics import CURVE_SCHEMA


def test_result_files_metrics_and_provenance(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    result = backtest_part(
        hft_config, generated_parts[0], tmp_path / "out", timeout_s=120, pool=pool
    )
    names = [p.name for p in result.files()]
    assert names == ["chart.png", "curve.parquet", "result.json", "stats.npz"]

    # stats.npz is hftbacktest's record format and its stats module reads it.
    record = np.load(result.directory / "stats.npz")["0"]
    assert record.dtype == record_dtype and len(record) == result.metrics["records"] > 10
    LinearAssetRecord(record).resample("1s").stats()

    curve = pq.read_table(result.directory / "curve.parquet")
    assert curve.schema == CURVE_SCHEMA and curve.num_rows == len(record)
    equity = record["balance"] + record["position"] * record["price"] - record["fee"]
    np.testing.assert_allclose(curve["equity"].to_numpy(), equity)

    metrics = result.metrics
    assert metrics["trades"] > 0 and metrics["volume"] > 0
    assert metrics["pnl"] == pytest.approx(
        equity[np.isfinite(equity)][-1] - equity[np.isfinite(equity)][0]
    )
    assert metrics["max_drawdown"] is not None and metrics["max_drawdown"] >= 0

    provenance = result.provenance
    assert provenance["engine"] == "hftbacktest"
    assert provenance["engine_version"] == hftbacktest.__version__
    assert provenance["config_hash"] == hft_config.config_hash()
    assert provenance["n_events"] == 4000 and len(provenance["part_sha256"]) == 64
    assert set(provenance["files"]) == {"curve.parquet", "stats.npz"}


def test_loop_is_bounded_by_the_part(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:

    info = validate_part(generated_parts[0])
    result = backtest_part(
        hft_config, generated_parts[0], tmp_path / "out", timeout_s=120, pool=pool
    )
    timestamps = np.load(result.directory / "stats.npz")["0"]["timestamp"]
    assert timestamps[-1] <= info.last_local_ts


def test_two_runs_are_bit_identical(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    first = backtest_part(hft_config, generated_parts[1], tmp_path / "a", timeout_s=120, pool=pool)
    second = backtest_part(hft_config, generated_parts[1], tmp_path / "b", timeout_s=120, pool=pool)
    fresh_pool = WorkerPool(1)  # a new process: nothing carried over in memory
    try:
        third = backtest_part(
            hft_config, generated_parts[1], tmp_path / "c", timeout_s=120, pool=fresh_pool
        )
    finally:
        fresh_pool.close()
    assert first.content_hash == second.content_hash == third.content_hash
    for a, b, c in zip(first.files(), second.files(), third.files(), strict=True):
        assert a.name == b.name == c.name
        assert a.read_bytes() == b.read_bytes() == c.read_bytes()


def test_output_directory_must_be_fresh(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "events.jsonl").write_text("left over\n")
    with pytest.raises(EngineError, match="is not empty"):
        backtest_part(hft_config, generated_parts[0], out, timeout_s=120, pool=pool)
    assert (out / "events.jsonl").read_text() == "left over\n"


def test_missing_part_fails_fast_without_reaching_the_engine(
    tmp_path: Path, hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    started = time.monotonic()
    with pytest.raises(PartValidationError, match="gone.npz: file does not exist"):
        backtest_part(hft_config, tmp_path / "gone.npz", tmp_path / "out", timeout_s=120, pool=pool)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "out").exists()


def test_bad_strategy_paths_and_params(
    tmp_path: Path, generated_parts: list[Path], pool: WorkerPool
) -> None:
    cases = {
        "no_module": (
            "trading_runtime.strategies.nowhere:mm",
            {},
            "cannot import module 'trading_runtime.strategies.nowhere'",
        ),
        "no_attr": ("trading_runtime.strategies.market_maker:nope", {}, "has no attribute 'nope'"),
        "bad_param": (
            "trading_runtime.strategies.market_maker:market_maker",
            {"strategy__spred": 3},
            "strategy.spred is not a parameter",
        ),
    }
    for name, (class_path, extra, expected) in cases.items():
        config = load_config(
            write_config(tmp_path / f"{name}.json", strategy__class_path=class_path, **extra)
        )
        with pytest.raises(StrategyLoadError) as excinfo:
            backtest_part(config, generated_parts[0], tmp_path / name, timeout_s=60, pool=pool)
        assert expected in str(excinfo.value), name


def test_recorder_overflow_is_a_clear_error(
    tmp_path: Path, generated_parts: list[Path], pool: WorkerPool
) -> None:
    path = write_config(tmp_path / "c.json", engine__max_steps=50)
    raw = path.read_text().replace(
        '"class_path": "trading_runtime.strategies.market_maker:market_maker"',
        '"class_path": "support.strategies_for_tests:records_every_step"',
    )
    path.write_text(raw)
    config = load_config(path)
    config = config.model_copy(
        update={"strategy": config.strategy.model_copy(update={"params": {}})}
    )
    with pytest.raises(
        EngineError, match=r"filled the recorder \(engine.max_steps = 50 holds 49 rows\)"
    ):
        backtest_part(config, generated_parts[0], tmp_path / "out", timeout_s=120, pool=pool)


def _with_strategy(config: BacktestConfig, class_path: str, **params: object) -> BacktestConfig:
    strategy = config.strategy.model_copy(update={"class_path": class_path, "params": params})
    return config.model_copy(update={"strategy": strategy})


def test_duplicate_part_names_are_refused(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    tasks = [
        BacktestTask("part-00000", generated_parts[0], tmp_path / "a"),
        BacktestTask("part-00000", generated_parts[1], tmp_path / "b"),
    ]
    with pytest.raises(ValueError, match="parts with the same name"):
        backtest_tasks(hft_config, tasks, timeout_s=60, pool=pool)


def test_batch_isolates_failures(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    tasks = [
        BacktestTask("good0", generated_parts[0], tmp_path / "good0"),
        BacktestTask("broken", broken, tmp_path / "broken"),
        BacktestTask("good2", generated_parts[2], tmp_path / "good2"),
    ]
    outcomes = backtest_tasks(hft_config, tasks, timeout_s=120, pool=pool)
    assert isinstance(outcomes["broken"], PartValidationError)
    assert outcomes["good0"].metrics["records"] > 0  # type: ignore[union-attr]
    assert outcomes["good2"].metrics["records"] > 0  # type: ignore[union-attr]


def test_example_strategy_covers_the_whole_part(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    result = backtest_part(
        hft_config, generated_parts[1], tmp_path / "out", timeout_s=120, pool=pool
    )
    assert result.metrics["data_coverage"] > 0.99
    assert result.metrics["trades"] > 0


def test_a_strategy_stopped_by_an_hftbacktest_error_fails_its_part(
    tmp_path: Path, generated_parts: list[Path], pool: WorkerPool
) -> None:
    config = load_config(
        write_config(
            tmp_path / "c.json",
            strategy={"class_path": "support.strategies_for_tests:stops_on_error_code"},
        )
    )
    with pytest.raises(EngineError, match=r"error code 14 \(InvalidOrderStatus\) before the end"):
        backtest_part(config, generated_parts[0], tmp_path / "out", timeout_s=120, pool=pool)
    assert not (tmp_path / "out").exists()
