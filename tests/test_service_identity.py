"""What a run and the engine service must agree on, and the service's pools, without processes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from trading_runtime.backtest import engine_service
from trading_runtime.backtest.engine_service import EngineService
from trading_runtime.backtest.service_identity import (
    IDLE_ENV,
    SERVICE_ENV,
    ServiceFiles,
    environment_fingerprint,
    idle_seconds,
    service_enabled,
)
from trading_runtime.settings import SettingsError, load_settings

HOME = {"DAGSTER_HOME": "/srv/dagster"}


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({**HOME, "DAGSTER_IS_DEV_CLI": "1"}, True),  # auto, under `dagster dev` / `dg dev`
        (HOME, False),  # auto elsewhere: tests, the CLI, a cluster's run pods
        ({**HOME, SERVICE_ENV: "on"}, True),
        ({**HOME, SERVICE_ENV: "off", "DAGSTER_IS_DEV_CLI": "1"}, False),
        ({SERVICE_ENV: "on"}, False),  # no instance to belong to
        ({**HOME, SERVICE_ENV: "on", "TRADING_RUNTIME_ENV": "k8s"}, False),
    ],
)
def test_the_switch(environ: dict[str, str], enabled: bool) -> None:
    assert service_enabled(environ) is enabled


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match=f"{SERVICE_ENV}='yes': expected one of auto, on, off"):
        service_enabled({**HOME, SERVICE_ENV: "yes"})
    with pytest.raises(ValueError, match=f"{IDLE_ENV}='-1': expected a positive number"):
        idle_seconds({IDLE_ENV: "-1"})
    with pytest.raises(SettingsError, match="TRADING_RUNTIME_ENGINE_SERVICE='yes'"):
        load_settings({SERVICE_ENV: "yes"})
    with pytest.raises(SettingsError, match="ENGINE_SERVICE=on needs TRADING_RUNTIME_ENV=local"):
        load_settings(
            {SERVICE_ENV: "on", "TRADING_RUNTIME_ENV": "k8s", "TRADING_RUNTIME_RESULTS": "s3://b/r"}
        )


def test_the_fingerprint_covers_what_workers_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = dict(os.environ)
    fingerprint = environment_fingerprint(base)
    assert environment_fingerprint(dict(base)) == fingerprint
    for name in (
        "TRADING_RUNTIME_STRATEGY_MODULES",
        "TRADING_RUNTIME_WORKER_MEMORY_MB",
        "TRADING_RUNTIME_GIT_COMMIT",
        "PYTHONPATH",
        "NUMBA_OPT",
    ):
        assert environment_fingerprint({**base, name: "other"}) != fingerprint, name
    # What only the Dagster side reads does not keep a run off the service.
    assert environment_fingerprint({**base, "TRADING_RUNTIME_RESULTS": "x"}) == fingerprint
    monkeypatch.chdir(tmp_path)  # relative paths would resolve elsewhere
    assert environment_fingerprint(base) != fingerprint


def test_the_key_is_private_and_the_address_names_the_instance(tmp_path: Path) -> None:
    files = ServiceFiles(tmp_path / "home")
    assert files.read_key() is None
    key = files.create_key()
    assert files.read_key() == key and len(key) == 32
    assert stat.S_IMODE(files.key_path.stat().st_mode) == 0o600
    assert files.create_key() != key  # a new service, a new key
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    files.key_path.chmod(0o644)  # readable by others: not a secret any more, not used
    assert files.read_key() is None
    assert files.address.startswith("\0")  # abstract: no socket file to leave behind
    assert files.address != ServiceFiles(tmp_path / "other").address
    assert files.address == ServiceFiles(tmp_path / "home" / ".." / "home").address


class _FakePool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_changed_strategy_retires_the_warm_pools_once_their_tasks_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_service, "WorkerPool", _FakePool)
    service = EngineService("fp")
    v1: Any = ("strategies.mm", "/src/strategies/mm.py", "aaa")
    v2: Any = ("strategies.mm", "/src/strategies/mm.py", "bbb")
    running = service._acquire(2, v1)
    idle = service._acquire(1, v1)
    service._release(idle)
    assert service._acquire(2, v1) is running  # warm: the same pool
    service._release(running)
    assert service.busy()

    fresh = service._acquire(2, v2)  # the module's file changed
    assert fresh is not running
    assert idle.closed  # nothing ran on it: closed at once
    assert not running.closed  # its task goes on, on the workers it started with
    service._release(running)
    assert running.closed
    service._release(fresh)
    assert not service.busy() and not fresh.closed
    service.close()
    assert fresh.closed


def test_a_request_from_other_code_is_refused_as_stale() -> None:
    service = EngineService("fp")
    reply = service.answer({"kind": "ping", "fingerprint": "other"}, conn=None)  # type: ignore[arg-type]
    assert reply is not None and reply[0] == "stale"
    assert service.answer({"kind": "ping", "fingerprint": "fp"}, conn=None)[0] == "ok"  # type: ignore[arg-type,index]
    stopped = service.answer({"kind": "stop"}, conn=None)  # type: ignore[arg-type]
    assert stopped is not None and stopped[0] == "ok" and service.stop.is_set()
