"""The warm engine service: a run launched alone lands on compiled workers, with the results,
clocks, errors and kill semantics of its own workers, and falls back to them when the service is
gone or runs other code."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli_processes import children, running
from support.engine_service import service_tasks

from trading_runtime.adapters import EngineTimeoutError
from trading_runtime.backtest.engine_pools import pool_for
from trading_runtime.backtest.fan_out import BacktestTask, backtest_tasks
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.backtest.service_client import (
    ServicePool,
    close_service_pools,
    ping_service,
    service_pool,
)
from trading_runtime.backtest.service_identity import IDLE_ENV, SERVICE_ENV, ServiceFiles
from trading_runtime.backtest.service_start import ensure_engine_service, warm_engine_service
from trading_runtime.config import BacktestConfig
from trading_runtime.layout import engine_started_marker
from trading_runtime.results import BacktestResult

TESTS_DIR = Path(__file__).parent

pytestmark = [
    pytest.mark.slow,  # a service process, compiled workers, runs in fresh processes
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets: Linux"),
]


def _with_strategy(config: BacktestConfig, class_path: str) -> BacktestConfig:
    strategy = config.strategy.model_copy(update={"class_path": class_path, "params": {}})
    return config.model_copy(update={"strategy": strategy})


def _wait(condition: object, what: str, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stop(pid: int) -> None:
    if running(pid):
        os.kill(pid, signal.SIGTERM)
    _wait(lambda: _reaped(pid), f"service {pid} to exit", 60.0)


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid or not running(pid)
    except ChildProcessError:
        return not running(pid)


@pytest.fixture
def instance_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SERVICE_ENV, "on")
    yield home
    close_service_pools()


def _start(idle_s: float | None = None) -> int:
    if idle_s is not None:
        os.environ[IDLE_ENV] = str(idle_s)
    try:
        pid = ensure_engine_service()
    finally:
        os.environ.pop(IDLE_ENV, None)
    assert pid is not None
    _wait(lambda: service_pool(1) is not None, "the service to answer")
    return pid


@pytest.fixture
def service(instance_home: Path) -> Iterator[int]:
    pid = _start()
    yield pid
    close_service_pools()
    _stop(pid)


_CLIENT = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv.pop())  # the tests' strategies, as a code location's own modules
from trading_runtime.backtest.engine_pools import pool_for
from trading_runtime.backtest.fan_out import BacktestTask, backtest_tasks
from trading_runtime.config import example_config_path, load_config
config = load_config(example_config_path("hftbacktest"))
if len(sys.argv) > 3:
    strategy = config.strategy.model_copy(update={"class_path": sys.argv[3], "params": {}})
    config = config.model_copy(update={"strategy": strategy})
pool = pool_for(1)
task = BacktestTask("p", Path(sys.argv[1]), Path(sys.argv[2]))
outcome = backtest_tasks(config, [task], pool=pool, timeout_s=600)["p"]
print(json.dumps({
    "pool": type(pool).__name__,
    "startup_s": outcome.startup_s,
    "content_hash": outcome.provenance["content_hash"],
    "files": outcome.provenance["files"],
    "charts": outcome.provenance["charts"],
}))
"""


def _client(part: Path, out: Path, strategy: str | None = None) -> subprocess.Popen[str]:
    """A run's process of its own, as the UI launches one per click."""
    args = [sys.executable, "-c", _CLIENT, str(part), str(out), *([strategy] if strategy else [])]
    return subprocess.Popen([*args, str(TESTS_DIR)], stdout=subprocess.PIPE, text=True)


def test_a_run_in_a_fresh_process_lands_on_the_compiled_worker_with_the_same_result(
    service: int, tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    part = generated_parts[0]
    local = WorkerPool(1)
    try:
        own = backtest_tasks(hft_config, [BacktestTask("p", part, tmp_path / "own")], pool=local)
    finally:
        local.close()
    expected = own["p"]
    assert isinstance(expected, BacktestResult)

    runs = []
    for n in range(2):  # the first compiles in the service; the second finds it compiled
        client = _client(part, tmp_path / f"run{n}")
        out, _ = client.communicate(timeout=600)
        assert client.returncode == 0
        runs.append(json.loads(out))
    assert [run["pool"] for run in runs] == ["ServicePool", "ServicePool"]
    assert {run["content_hash"] for run in runs} == {expected.provenance["content_hash"]}
    for run in runs:  # every stored file's bytes, the chart's too
        assert (run["files"], run["charts"]) == (
            expected.provenance["files"],
            expected.provenance["charts"],
        )
    # Compiling took seconds in the first run; the second run's process compiled nothing.
    assert runs[1]["startup_s"] < runs[0]["startup_s"] / 3, runs
    assert running(service)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_run_stopped_mid_backtest_ends_its_worker_and_the_service_goes_on(
    stop: signal.Signals,
    service: int,
    tmp_path: Path,
    generated_parts: list[Path],
    hft_config: BacktestConfig,
) -> None:
    out = tmp_path / "stuck"
    client = _client(generated_parts[0], out, "support.strategies_for_tests:stuck_forever")
    try:
        marker = engine_started_marker(out)
        _wait(lambda: marker.exists() or client.poll() is not None, "the stuck backtest", 240.0)
        assert client.poll() is None, client.communicate()
        workers = [pid for pid in children(service) if running(pid)]
        assert workers, "no worker under the service"
        client.send_signal(stop)
        # Interrupted (as Dagster stops a run), the run's process ends at once: it does not
        # wait for the service to finish the task.
        client.wait(timeout=30)
        # The service cancels the task of a client gone: its worker is killed, not left spinning.
        _wait(lambda: not all(running(pid) for pid in workers), "the stuck worker to be killed", 30)
    finally:
        client.kill()
        client.wait()
    assert running(service)
    again = backtest_tasks(
        hft_config, [BacktestTask("p", generated_parts[1], tmp_path / "again")], pool=pool_for(1)
    )["p"]
    assert isinstance(again, BacktestResult), again


def test_a_timeout_in_the_service_fails_the_part_as_a_local_worker_does(
    service: int, tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    stuck = _with_strategy(hft_config, "support.strategies_for_tests:stuck_forever")
    pool = pool_for(1)
    assert isinstance(pool, ServicePool)
    task = BacktestTask("late", generated_parts[0], tmp_path / "late")
    outcome = backtest_tasks(stuck, [task], timeout_s=2.0, pool=pool)["late"]
    assert isinstance(outcome, EngineTimeoutError)
    assert "late: backtest exceeded the 2 s timeout" in str(outcome)
    assert not (tmp_path / "late").exists()


def test_a_task_whose_service_dies_runs_on_the_run_s_own_workers(
    instance_home: Path, tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    pid = _start()
    try:
        pool = pool_for(1)
        assert isinstance(pool, ServicePool)
        task = BacktestTask("p", generated_parts[2], tmp_path / "p")
        future = pool.submit(hft_config, task.part_path, task.out_dir)
        _wait(lambda: service_tasks(instance_home) >= 1, "the task to reach the service")
        os.kill(pid, signal.SIGKILL)  # while its cold worker compiles
        document, _, _ = future.result(timeout=600)
        assert document["provenance"]["part"] == generated_parts[2].stem
        assert (tmp_path / "p" / "result.json").exists()
        _wait(lambda: _reaped(pid), "the killed service")
        # Nothing answers now: the next batch uses this process's own workers.
        assert isinstance(pool_for(1), WorkerPool)
    finally:
        _stop(pid)


def test_a_service_running_other_settings_is_replaced(
    instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _start()
    try:
        monkeypatch.setenv("TRADING_RUNTIME_WORKER_MEMORY_MB", "2048")
        close_service_pools()
        assert service_pool(1) is None  # its workers would run with other limits
        new = ensure_engine_service()
        assert new is not None and new != old
        try:
            _wait(lambda: _reaped(old), "the stale service to stop")
            import trading_runtime.backtest.service_client as client

            client._stale.clear()  # this test process's own verdict on the old one
            _wait(lambda: service_pool(1) is not None, "the new service")
        finally:
            _stop(new)
    finally:
        _stop(old)


def test_an_idle_service_exits_by_itself(instance_home: Path) -> None:
    pid = _start(idle_s=1.0)
    close_service_pools()
    # Gone, not a zombie: the process that started it reaps it (this test waits, it does not).
    _wait(lambda: not Path(f"/proc/{pid}").exists(), "the idle service to exit and be reaped", 60.0)
    assert "idle for 1 s, stopping" in ServiceFiles(instance_home).log_path.read_text()


def test_a_warmed_service_has_compiled_the_config_before_the_first_run(
    service: int, tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    local = WorkerPool(1)  # a run's own cold worker, for comparison
    try:
        task = BacktestTask("p", generated_parts[1], tmp_path / "own")
        cold = backtest_tasks(hft_config, [task], pool=local)["p"]
    finally:
        local.close()
    assert isinstance(cold, BacktestResult)

    home = Path(os.environ["DAGSTER_HOME"])
    warm_engine_service(hft_config, generated_parts[0], 300.0)  # what `make dev`'s load does
    _wait(
        lambda: service_tasks(home) >= 1, "the warm-up to reach the service"
    )  # the run waits behind it
    task = BacktestTask("p", generated_parts[1], tmp_path / "first")
    first = backtest_tasks(hft_config, [task], pool=pool_for(1))["p"]
    assert isinstance(first, BacktestResult)
    assert first.provenance["content_hash"] == cold.provenance["content_hash"]
    assert first.startup_s < cold.startup_s / 3, (first.startup_s, cold.startup_s)


def test_a_silent_connection_or_a_wrong_key_holds_nothing(
    service: int, instance_home: Path
) -> None:
    files = ServiceFiles(instance_home)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(files.address)  # says nothing: its handshake times out on its own
        # Others are still admitted (a blocked accept would time out their handshake).
        assert service_pool(1) is not None
    intruder = ServicePool(files, b"not the key", "fp", 1)
    assert ping_service(intruder) == "absent"  # refused: a run would use its own workers
    assert service_tasks(instance_home) == 0
