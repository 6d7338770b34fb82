"""Worker processes: clocks that bound the backtest only, and no engine outliving its run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli_processes import children, running

from trading_runtime.adapters import EngineStartupError, EngineTimeoutError, StrategyLoadError
from trading_runtime.backtest.fan_out import BacktestTask, backtest_tasks
from trading_runtime.backtest.inputs import keyed_locations
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import BacktestConfig
from trading_runtime.data.validate import validate_part
from trading_runtime.layout import STAGING_DIR, STAGING_OWNER_FILE, STAGING_PREFIX
from trading_runtime.results import BacktestResult

TESTS_DIR = Path(__file__).parent


def _with_strategy(config: BacktestConfig, class_path: str, **params: object) -> BacktestConfig:
    strategy = config.strategy.model_copy(update={"class_path": class_path, "params": params})
    return config.model_copy(update={"strategy": strategy})


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """Every core busy with a spinning process for the duration of the test."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_timeouts_count_the_backtest_not_start_up_on_a_saturated_machine(
    cpu_hog: None, tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    # Cold workers on busy cores: start-up and numba compilation take far longer than the
    # timeouts below, and must not count against them.
    pool = WorkerPool(2)
    try:
        tasks = [BacktestTask(p.stem, p, tmp_path / "plain" / p.stem) for p in generated_parts[:2]]
        outcomes = backtest_tasks(hft_config, tasks, timeout_s=3.0, pool=pool)
        for task in tasks:
            assert isinstance(outcomes[task.partition], BacktestResult), outcomes

        first_end = validate_part(generated_parts[0]).last_local_ts
        stuck_late = _with_strategy(
            hft_config, "support.strategies_for_tests:stuck_on_late_parts", stuck_after_ts=first_end
        )
        tasks = [
            BacktestTask("early", generated_parts[0], tmp_path / "early"),
            BacktestTask("late", generated_parts[1], tmp_path / "late"),
        ]
        started = time.monotonic()
        outcomes = backtest_tasks(stuck_late, tasks, timeout_s=3.0, pool=pool)
        assert time.monotonic() - started >= 3.0  # the stuck part ran its full timeout
        assert isinstance(outcomes["late"], EngineTimeoutError)
        assert "late: backtest exceeded the 3 s timeout" in str(outcomes["late"])
        assert not (tmp_path / "late").exists()  # nothing half-written is left behind
        assert isinstance(outcomes["early"], BacktestResult), outcomes["early"]
    finally:
        pool.close()


def test_start_up_has_its_own_limit_and_compile_errors_are_named(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    part = generated_parts[0]
    pool = WorkerPool(1)  # cold: compiling takes seconds
    try:
        task = BacktestTask("cold", part, tmp_path / "cold")
        outcome = backtest_tasks(
            hft_config, [task], timeout_s=60.0, pool=pool, startup_timeout_s=0.2
        )["cold"]
        assert isinstance(outcome, EngineStartupError)
        assert "exceeded the 0.2 s start-up limit" in str(outcome)
        assert "TRADING_RUNTIME_STARTUP_TIMEOUT_S" in str(outcome)

        broken = _with_strategy(hft_config, "support.strategies_for_tests:does_not_compile")
        task = BacktestTask("broken", part, tmp_path / "broken")
        outcome = backtest_tasks(broken, [task], timeout_s=60.0, pool=pool)["broken"]
        assert isinstance(outcome, StrategyLoadError)
        assert "'support.strategies_for_tests:does_not_compile' does not compile with numba" in str(
            outcome
        )
    finally:
        pool.close()


_STUCK_RUN = """
import sys
from pathlib import Path
from trading_runtime.config import example_config_path, load_config
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.backtest.inputs import keyed_locations
config = load_config(example_config_path("hftbacktest"))
strategy = config.strategy.model_copy(
    update={"class_path": "support.strategies_for_tests:stuck_forever", "params": {}}
)
config = config.model_copy(update={"strategy": strategy})
backtest_and_publish(config, keyed_locations([sys.argv[1]]), sys.argv[2], timeout_s=600, workers=1)
"""


def _stuck_run(
    part: Path, out: Path, stderr: int | None = None
) -> tuple[subprocess.Popen[bytes], list[int]]:
    """A run's process whose backtest of ``part`` never ends, once that backtest has started;
    its engine workers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])}
    run = subprocess.Popen(
        [sys.executable, "-c", _STUCK_RUN, str(part), str(out)], env=env, stderr=stderr
    )
    deadline = time.monotonic() + 180  # start-up and compilation of a cold worker
    while not list(out.glob(f"{STAGING_DIR}/{STAGING_PREFIX}*/.*.engine-started")):
        if run.poll() is not None or time.monotonic() > deadline:
            run.kill()
            pytest.fail("the engine never started")
        time.sleep(0.2)
    workers = children(run.pid)
    assert workers, "no engine worker found"
    return run, workers


def _assert_ended(workers: list[int], limit_s: float) -> None:
    ended_at = time.monotonic()
    while any(running(pid) for pid in workers) and time.monotonic() - ended_at < limit_s:
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers), f"an engine outlived its run by {limit_s} s"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_killed_run_leaves_no_engine_running_and_its_staging_is_removed_next_time(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    out = tmp_path / "out"
    run, workers = _stuck_run(generated_parts[0], out)
    try:
        run.send_signal(signal.SIGKILL)
        run.wait()
        _assert_ended(workers, 5.0)
    finally:
        if run.poll() is None:
            run.kill()
    (abandoned,) = out.glob(f"{STAGING_DIR}/{STAGING_PREFIX}*")
    assert (abandoned / STAGING_OWNER_FILE).is_file()
    assert not list(out.glob("part-*"))  # the killed run published nothing

    # The next run into the same place removes what the dead run left, then publishes.
    outcomes = backtest_and_publish(hft_config, keyed_locations(generated_parts[:1]), out)
    assert isinstance(outcomes["part-00000"], BacktestResult)
    assert sorted(p.name for p in out.iterdir()) == ["part-00000"]


@pytest.mark.slow  # a cold worker compiles before the stuck backtest starts
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_a_run_interrupted_while_it_waits_for_a_backtest_ends_at_once(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    # As Dagster stops a run (SIGINT to its process): the wait for a backtest stuck for ten
    # minutes must give way at once. It did not: the kernel may hand the signal to another
    # thread, and a wait without a timeout never let the main thread handle it.
    out = tmp_path / "out"
    run, workers = _stuck_run(generated_parts[0], out, stderr=subprocess.PIPE)
    try:
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=30)
        assert b"KeyboardInterrupt" in stderr
        _assert_ended(workers, 10.0)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
