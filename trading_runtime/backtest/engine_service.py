"""The warm engine service: engine workers kept alive across runs on one machine.

Under ``dagster dev`` every click starts a fresh run process, whose own workers would compile the
strategy again (~6.6 s) before a backtest of a few hundredths of a second. The code location
starts this service (``service_start.start_engine_service``); runs send it their tasks over a
local socket (``service_identity``) and it runs them on warm ``pool.WorkerPool``s, one per size
as in a run's own process, so a one-part run lands on the worker that compiled it last time.

The tasks are the very functions a run's own workers run, with the same clocks (the worker's
alarms, pebble's backstop) and the same kill semantics: a client that goes away (its run ended,
was stopped or killed) has its running task cancelled, which kills that task's worker. Workers die
with the service (``PR_SET_PDEATHSIG``); the service dies with ``dagster dev`` (it stays in its
process group, so Ctrl-C reaches it) or after ``TRADING_RUNTIME_ENGINE_SERVICE_IDLE_S`` without
a task. A strategy whose source file changed retires the warm pools (they may hold the old
module) once their running tasks end.

Run: ``python -m trading_runtime.backtest.engine_service <DAGSTER_HOME> <sys.path as JSON>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future, wait
from concurrent.futures import TimeoutError as FutureTimeoutError
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection
from typing import Any

from pebble import ProcessExpired

from trading_runtime.adapters import EngineError
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.backtest.service_identity import (
    ServiceFiles,
    environment_fingerprint,
    idle_seconds,
    module_source,
)
from trading_runtime.backtest.service_wire import admit, listen
from trading_runtime.backtest.worker import (
    backtest_in_worker,
    prepare_in_worker,
    validate_in_worker,
)

__all__ = ["EngineService", "main"]

_TASKS = {
    "backtest": backtest_in_worker,
    "validate": validate_in_worker,
    "prepare": prepare_in_worker,
}
# How often a waiting task checks that its client is still there.
_CLIENT_CHECK_S = 0.2


class EngineService:
    """Warm pools by size, the tasks running on them, and when the last one ended."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._pools: dict[int, WorkerPool] = {}
        self._running: dict[WorkerPool, int] = {}
        self._retired: set[WorkerPool] = set()
        self._sources: dict[str, tuple[str | None, str]] = {}
        self.last_active = time.monotonic()
        self.stop = threading.Event()
        self.tasks = 0

    def busy(self) -> bool:
        with self._lock:
            return any(self._running.values())

    def _acquire(self, size: int, strategy: tuple[str, str | None, str] | None) -> WorkerPool:
        idle: list[WorkerPool] = []
        with self._lock:
            if strategy is not None:
                module, source, digest = strategy
                known = self._sources.get(module)
                if known is not None and known != (source, digest):
                    print(f"engine service: {module} changed; new pools", flush=True)
                    for old in self._pools.values():  # they may hold the old module
                        if self._running.get(old):
                            self._retired.add(old)  # closed when its last task ends
                        else:
                            idle.append(old)
                    self._pools.clear()
                self._sources[module] = (source, digest)
            pool = self._pools.get(size)
            if pool is None:
                pool = self._pools[size] = WorkerPool(size)
                print(f"engine service: a pool of {size} worker(s) started", flush=True)
            self.tasks += 1
            self.last_active = time.monotonic()  # only tasks keep the service from idling out
            self._running[pool] = self._running.get(pool, 0) + 1
        for old in idle:
            old.close()
        return pool

    def _release(self, pool: WorkerPool) -> None:
        with self._lock:
            self._running[pool] -= 1
            self.last_active = time.monotonic()
            done = pool in self._retired and self._running[pool] == 0
            if done:
                self._retired.discard(pool)
                del self._running[pool]
        if done:
            pool.close()

    def answer(self, request: dict[str, Any], conn: Connection) -> tuple[Any, ...] | None:
        """The reply to one request; None when its client went away (its task cancelled)."""
        if request.get("kind") == "stop":  # a starter whose code or settings differ
            self.stop.set()
            return ("ok", {"pid": os.getpid()})
        if request.get("kind") == "status":  # for anyone with the key: what it has done
            with self._lock:
                sizes = sorted(self._pools)
            return ("ok", {"pid": os.getpid(), "tasks": self.tasks, "pools": sizes})
        if request.get("fingerprint") != self.fingerprint:
            return ("stale", "the service runs other code or settings than this run")
        kind = request.get("kind")
        if kind == "ping":
            return ("ok", {"pid": os.getpid()})
        if kind not in _TASKS:
            return ("error", EngineError(f"engine service: unknown request {kind!r}"))
        strategy = request.get("strategy")
        if strategy is not None and module_source(strategy[0]) != strategy[1]:
            return ("stale", f"strategy module {strategy[0]} resolves to another file here")
        pool = self._acquire(max(1, int(request["size"])), strategy)
        try:
            future = pool.schedule(_TASKS[kind], tuple(request["args"]), request["timeout"])
            return _outcome(future, conn)
        finally:
            self._release(pool)

    def close(self) -> None:
        with self._lock:
            pools = [*self._pools.values(), *self._retired]
            self._pools.clear()
            self._retired.clear()
        for pool in pools:
            pool.close()


def _outcome(future: Future[Any], conn: Connection) -> tuple[Any, ...] | None:
    """Wait for the task while its client is there: a client gone (end of file on its
    connection: it never sends twice) cancels the task, which kills its worker. The client hears
    when a worker takes the task: its clocks start then, not while the task waits its turn."""
    started = False
    while not wait([future], timeout=_CLIENT_CHECK_S).done:
        try:
            if conn.poll(0):
                raise EOFError
            if not started and future.running():
                conn.send(("started",))
                started = True
        except (EOFError, OSError):
            future.cancel()
            return None
    try:
        return ("ok", future.result())
    except ProcessExpired as exc:
        return ("expired", str(exc), exc.exitcode)
    except FutureTimeoutError:
        return ("timeout",)
    except Exception as exc:
        return ("error", exc)


def _serve(sock: socket.socket, key: bytes, service: EngineService) -> None:
    try:
        conn = admit(sock, key)
    except (AuthenticationError, EOFError, OSError):
        return  # a client with another key, silent or gone mid-handshake
    with conn:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        reply = service.answer(request, conn) if isinstance(request, dict) else None
        if reply is None:
            return
        try:
            conn.send(reply)
        except (OSError, ValueError):
            pass  # the client went away
        except Exception:  # an error that does not pickle: its text crosses
            with contextlib.suppress(OSError, ValueError):
                conn.send(("error", EngineError(f"{type(reply[1]).__name__}: {reply[1]}")))


def _accept(listener: socket.socket, key: bytes, service: EngineService) -> None:
    """Accept only: each connection's handshake runs in its own thread, under a time limit."""
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:
            return  # shut down: the service is stopping
        threading.Thread(target=_serve, args=(sock, key, service), daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    files = ServiceFiles(argv[0])
    if len(argv) > 1:  # the starter's import path, so workers import what its runs would
        sys.path[:] = json.loads(argv[1])
    key = files.read_key()
    if key is None:
        raise SystemExit(f"engine service: no key at {files.key_path}")
    idle_s = idle_seconds()
    service = EngineService(environment_fingerprint())
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: service.stop.set())
    listener = listen(files.address)
    threading.Thread(target=_accept, args=(listener, key, service), daemon=True).start()
    print(f"engine service {os.getpid()} listening for {files.home}", flush=True)
    while not service.stop.wait(min(5.0, idle_s)):
        if not service.busy() and time.monotonic() - service.last_active > idle_s:
            print(f"engine service: idle for {idle_s:g} s, stopping", flush=True)
            break
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
    listener.close()
    # No new tasks (the address is free for a successor); the running ones end by their own
    # clocks unless the signal came twice.
    service.stop.clear()
    while service.busy() and not service.stop.wait(0.5):
        pass
    service.close()
    print(f"engine service: stopped after {service.tasks} task(s)", flush=True)


if __name__ == "__main__":
    main()
