"""A run's side of the warm engine service (``engine_service``): a pool whose tasks run on the
service's warm workers (``service_start`` starts the service).

``engine_pools.pool_for`` asks ``service_pool`` first. A service that is off, absent, slow to
answer or running other code (``service_identity``) gives None, and the run uses its own
workers. A task whose service goes away before it answers (stopped, killed) runs again on the
run's own workers, in a fresh output directory; one the service calls stale does too.
Everything else (results, errors, timeouts, worker deaths) arrives as a local worker's would.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pebble import ProcessExpired

from trading_runtime.backtest.pool import (
    backtest_args,
    backtest_deadline,
    gather_validations,
    shared_pool,
)
from trading_runtime.backtest.private_inputs import private_inputs_dir
from trading_runtime.backtest.service_identity import (
    ServiceFiles,
    environment_fingerprint,
    service_enabled,
    strategy_identity,
)
from trading_runtime.backtest.service_wire import RequestThreads, connect
from trading_runtime.config import BacktestConfig
from trading_runtime.data.part_info import PartInfo, PartValidationError
from trading_runtime.layout import (
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    engine_started_marker,
)

__all__ = [
    "PING_TIMEOUT_S",
    "REPLY_MARGIN_S",
    "ServicePool",
    "ServiceStale",
    "ServiceUnavailable",
    "close_service_pools",
    "ping_service",
    "service_pool",
]

# A service that does not answer a ping in this long is treated as absent.
PING_TIMEOUT_S = 5.0
# Past a task's own deadline (both clocks and pebble's backstop), the service has failed.
REPLY_MARGIN_S = 30.0


class ServiceUnavailable(Exception):
    """The service did not take or finish the task: run it on this process's workers."""


class ServiceStale(ServiceUnavailable):
    """The service runs other code or settings than this process."""


class ServicePool:
    """``pool.EnginePool`` over the engine service's warm pool of ``workers``."""

    def __init__(self, files: ServiceFiles, key: bytes, fingerprint: str, workers: int) -> None:
        self.workers = workers
        self._address, self._key, self._fingerprint = files.address, key, fingerprint
        # As many requests in flight as workers: a task waits its turn here, not in the service.
        self._executor = RequestThreads(workers)
        self._open: set[Connection] = set()
        self._lock = threading.Lock()

    def request(self, kind: str, deadline_s: float, **fields: Any) -> tuple[Any, ...]:
        """One request's reply. A task's reply is awaited for ``deadline_s`` after a worker
        took it, and as long again for that ("started"): past either, FutureTimeoutError (the
        connection closes, which cancels the task). ServiceUnavailable when the service did not
        take the request or went away; ServiceStale when it runs other code."""
        try:
            conn = connect(self._address, self._key)
        except (AuthenticationError, EOFError, OSError) as exc:
            raise ServiceUnavailable(repr(exc)) from None
        with self._lock:
            self._open.add(conn)
        try:
            conn.send({"kind": kind, "fingerprint": self._fingerprint, **fields})
            reply = _receive(conn, deadline_s)
            if reply[0] == "started":
                reply = _receive(conn, deadline_s)
        except (EOFError, OSError) as exc:
            raise ServiceUnavailable(f"the engine service went away ({exc!r})") from None
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()
        if reply[0] == "stale":
            _stale.set()  # this process's runs use their own workers from now on
            raise ServiceStale(str(reply[1]))
        return reply

    def _run(
        self,
        kind: str,
        args: tuple[Any, ...],
        timeout: float,
        local: Callable[[], Any],
        **fields: Any,
    ) -> Any:
        try:
            reply = self.request(
                kind,
                timeout + REPLY_MARGIN_S,
                args=args,
                timeout=timeout,
                size=self.workers,
                **fields,
            )
        except ServiceUnavailable:
            return local()
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "expired":
            raise ProcessExpired(reply[1], code=reply[2])
        if reply[0] == "timeout":
            raise FutureTimeoutError()
        raise reply[1]

    def submit(
        self,
        config: BacktestConfig,
        part_path: Path,
        out_dir: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        warmup_paths: Sequence[Path] = (),
        chart: bool = True,
    ) -> Future[tuple[dict[str, Any], float, float]]:
        args = backtest_args(
            config, part_path, out_dir, timeout_s, startup_timeout_s, warmup_paths, chart
        )

        def local() -> tuple[dict[str, Any], float, float]:
            _fresh_directory(Path(out_dir))  # what a killed service's worker left
            return (
                shared_pool(self.workers)
                .submit(
                    config,
                    part_path,
                    out_dir,
                    timeout_s=timeout_s,
                    startup_timeout_s=startup_timeout_s,
                    warmup_paths=warmup_paths,
                    chart=chart,
                )
                .result()
            )

        strategy = strategy_identity(config.strategy.class_path)
        return self._executor.submit(
            self._run, "backtest", args, backtest_deadline(args), local, strategy=strategy
        )

    def validate(
        self, part_paths: Sequence[Path], *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> list[PartInfo | PartValidationError]:
        def task(path: Path) -> Future[PartInfo]:
            def local() -> PartInfo:
                outcome = shared_pool(self.workers).validate([path], timeout_s=timeout_s)[0]
                if isinstance(outcome, PartValidationError):
                    raise outcome
                return outcome

            return self._executor.submit(
                self._run, "validate", (str(path),), timeout_s, local, strategy=None
            )

        return gather_validations(part_paths, [task(path) for path in part_paths])

    def close(self) -> None:
        """Drop every connection: the service cancels their tasks, killing their workers."""
        self._executor.close()
        with self._lock:
            for conn in self._open:
                conn.close()
            self._open.clear()


def _receive(conn: Connection, deadline_s: float) -> tuple[Any, ...]:
    if not conn.poll(deadline_s):
        raise FutureTimeoutError(f"the engine service did not answer in {deadline_s:g} s")
    reply: tuple[Any, ...] = conn.recv()
    return reply


def _fresh_directory(path: Path, attempts: int = 50) -> None:
    """``path`` empty again, with no marker or input copies beside it, for a task the service
    lost. Its worker dies with it (parent-death signal) but may still be writing for a moment:
    retried 0.1 s apart, then the error names the directory."""
    for _ in range(attempts):
        for leftover in (path, private_inputs_dir(path)):
            shutil.rmtree(leftover, ignore_errors=True)
        engine_started_marker(path).unlink(missing_ok=True)
        try:
            path.mkdir(parents=True)
            return
        except FileExistsError:
            time.sleep(0.1)
    path.mkdir(parents=True)


_pools: dict[int, ServicePool] = {}
_pools_lock = threading.Lock()
_stale = threading.Event()


def ping_service(pool: ServicePool) -> str:
    """``ok``, ``stale`` (it runs other code or settings), ``absent`` (nothing listens, or not
    with this key) or ``silent`` (no answer in ``PING_TIMEOUT_S``)."""
    try:
        return "ok" if pool.request("ping", PING_TIMEOUT_S)[0] == "ok" else "silent"
    except ServiceStale:
        return "stale"
    except ServiceUnavailable:
        return "absent"
    except FutureTimeoutError:
        return "silent"


def service_pool(workers: int) -> ServicePool | None:
    """The service's pool of ``workers`` when the service is on and answers; else None."""
    if _stale.is_set() or not service_enabled():
        return None
    files = ServiceFiles(os.environ["DAGSTER_HOME"])
    key = files.read_key()
    if key is None:
        return None
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None or pool._key != key:
            if pool is not None:
                pool.close()  # a service with an older key
            pool = _pools[workers] = ServicePool(files, key, environment_fingerprint(), workers)
    return pool if ping_service(pool) == "ok" else None


@atexit.register
def close_service_pools() -> None:
    """Drop this process's connections to the service: their running tasks are cancelled."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
