"""Starting the warm engine service (``engine_service``) from a code location, replacing one
that runs other code, and warming it before the first click."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path

from trading_runtime.backtest.service_client import (
    PING_TIMEOUT_S,
    REPLY_MARGIN_S,
    ServicePool,
    ServiceUnavailable,
    ping_service,
    service_pool,
)
from trading_runtime.backtest.service_identity import (
    ServiceFiles,
    environment_fingerprint,
    service_enabled,
    strategy_identity,
)
from trading_runtime.config import BacktestConfig

__all__ = ["ensure_engine_service", "start_engine_service", "warm_engine_service"]

# How long a code location waits for the service it started before warming it.
_WARM_WAIT_S = 120.0
# Dagster's commands for a run's (or step's) own process.
_RUN_PROCESS_COMMANDS = ("execute_run", "execute_step", "execute_run_with_structured_logs")


def ensure_engine_service() -> int | None:
    """Start the engine service for this instance unless it is off or already answers; the
    new process's pid, else None. A service running other code or settings is asked to stop
    first. It starts in the background: runs use their own workers until it answers. One
    starter at a time (a lock in the instance's directory)."""
    if not service_enabled():
        return None
    files = ServiceFiles(os.environ["DAGSTER_HOME"])
    files.directory.mkdir(parents=True, exist_ok=True)
    with open(files.lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another process is starting it
        key = files.read_key()
        if key is not None:
            pool = ServicePool(files, key, environment_fingerprint(), 1)
            status = ping_service(pool)
            if status == "stale":
                with contextlib.suppress(ServiceUnavailable, FutureTimeoutError):
                    pool.request("stop", PING_TIMEOUT_S)
                status = _wait_gone(pool)
            if status != "absent":
                return None  # it answers, or something holds its address
        files.create_key()
        with open(files.log_path, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trading_runtime.backtest.engine_service",
                    str(files.home),
                    json.dumps(sys.path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
    # Reaped when it exits (idle, stopped, replaced): no zombie for as long as this process lives.
    threading.Thread(target=process.wait, daemon=True, name="engine-service-reaper").start()
    return process.pid


def start_engine_service() -> None:
    """What a code location does when it loads, in the background (a load never waits for it):
    start the service (``ensure_engine_service``) and have it compile the config's strategy on
    the first local part (``warm_engine_service``). Never in a run's own process (Dagster's
    ``api execute_run``), which loads the code location too: runs only use the service. A
    problem is logged and only costs the first click its compile."""
    if any(command in sys.argv for command in _RUN_PROCESS_COMMANDS):
        return
    threading.Thread(target=_start_and_warm, daemon=True, name="engine-service-start").start()


def _start_and_warm() -> None:
    from trading_runtime.config import load_config
    from trading_runtime.data.parts_store import list_part_keys, part_location
    from trading_runtime.settings import load_settings

    try:
        if ensure_engine_service() is None:
            return
        settings = load_settings()
        if "://" in settings.parts_dir:
            return  # an object store: no local part to compile on
        keys = list_part_keys(settings.parts_dir)
        if keys:
            part = Path(str(part_location(settings.parts_dir, keys[0])))
            warm_engine_service(load_config(settings.config), part, settings.startup_timeout_s)
    except Exception as exc:  # runs then use their own workers, as without the service
        logging.getLogger("dagster").warning(f"engine service not started: {exc!r}")


def warm_engine_service(config: BacktestConfig, part: Path, startup_timeout_s: float) -> None:
    """In the background: once the service answers (within ``_WARM_WAIT_S``), compile
    ``config``'s strategy on its pool of one (where a one-part run lands) with ``part``, so
    that the first click finds it compiled. Nothing is reported: a click that comes first, or a
    warm-up that fails, only costs that click the compile."""

    def warm() -> None:
        deadline = time.monotonic() + _WARM_WAIT_S
        while time.monotonic() < deadline:  # bounded: the service answers or the wait ends
            pool = service_pool(1)
            if pool is not None:
                args = (config.model_dump_json(), str(part), startup_timeout_s)
                strategy = strategy_identity(config.strategy.class_path)
                with contextlib.suppress(ServiceUnavailable, FutureTimeoutError):
                    pool.request(
                        "prepare",
                        startup_timeout_s + REPLY_MARGIN_S,
                        args=args,
                        timeout=startup_timeout_s,
                        size=1,
                        strategy=strategy,
                    )
                return
            time.sleep(0.5)

    threading.Thread(target=warm, daemon=True, name="engine-service-warm-up").start()


def _wait_gone(pool: ServicePool, limit_s: float = 10.0) -> str:
    """Ping a stopping service until its address is free (``absent``), for at most about
    ``limit_s``; the last status."""
    status = "stale"
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:  # bounded: each ping is (``service_wire``)
        status = ping_service(pool)
        if status == "absent":
            break
        time.sleep(0.1)
    return status
