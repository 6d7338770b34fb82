"""Worker deaths are explained (the signal's name and a likely cause) and bounded: a per-worker
memory limit fails a runaway strategy's own part with a memory error long before the machine's
OOM killer would act."""

import os
import signal
from pathlib import Path

import pytest
from pebble import ProcessExpired

from trading_runtime.adapters import EngineError
from trading_runtime.backtest.fan_out import _failure, backtest_part
from trading_runtime.backtest.memory import WORKER_MEMORY_ENV, worker_memory_limit_mb
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import example_config_path, load_config, parse_config

# Well above a warm worker's data segment here (~0.5 GB after a backtest: numba, LLVM, polars,
# matplotlib), well below what the test strategy asks for.
TEST_LIMIT_MB = 1500


def died(code: int) -> str:
    return str(_failure("p", ProcessExpired("died", code=code), 1.0, 1.0, True))


def test_a_dead_worker_is_named_by_its_signal_and_a_likely_cause() -> None:
    assert "SIGKILL" in died(-signal.SIGKILL) and "out of memory?" in died(-signal.SIGKILL)
    assert "SIGSEGV" in died(-signal.SIGSEGV) and "segmentation fault" in died(-signal.SIGSEGV)
    assert "SIGABRT" in died(-signal.SIGABRT)
    assert "exit code 3" in died(3)


def test_the_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker_memory_limit_mb(2, {WORKER_MEMORY_ENV: "0"}) == 0
    assert worker_memory_limit_mb(2, {WORKER_MEMORY_ENV: "2048"}) == 2048
    default = worker_memory_limit_mb(2, {})
    assert default >= 1024 and worker_memory_limit_mb(1, {}) >= default
    with pytest.raises(ValueError, match=f"{WORKER_MEMORY_ENV}='lots'"):
        worker_memory_limit_mb(2, {WORKER_MEMORY_ENV: "lots"})


def test_a_runaway_strategy_fails_its_own_part_with_a_memory_error(
    tmp_path: Path, parts_dir: Path
) -> None:
    example = load_config(example_config_path("hftbacktest"))
    document = example.model_dump(mode="json")
    document["strategy"] = {"class_path": "support.strategies_for_tests:allocates_without_bound"}
    runaway = parse_config(document, "<test>")
    pool = WorkerPool(1, memory_mb=TEST_LIMIT_MB)
    try:
        with pytest.raises(EngineError, match=rf"out of memory.*{TEST_LIMIT_MB} MB") as caught:
            backtest_part(runaway, parts_dir / "part-00000.npz", tmp_path / "a", pool=pool)
        assert "\n" not in str(caught.value)
        # The same limit leaves room for a real backtest (numba and LLVM compile under it).
        result = backtest_part(example, parts_dir / "part-00001.npz", tmp_path / "b", pool=pool)
        assert result.metrics["records"] > 0
    finally:
        pool.close()
    assert os.environ.get(WORKER_MEMORY_ENV) is None  # nothing leaked into the environment
