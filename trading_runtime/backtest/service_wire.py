"""The engine service's connections: a Linux abstract Unix socket and the standard library's key
handshake (``multiprocessing.connection``), with a time limit on every read and write of a
connection, so that a peer that connects and says nothing holds neither side; and the client's
request threads.

``multiprocessing.connection.Listener.accept`` runs the handshake in the accepting thread and
``Client`` has no time limit; here the accepting thread only accepts, and each connection's
handshake runs in its own thread under ``SO_RCVTIMEO``/``SO_SNDTIMEO``. A blocking read past the
limit fails with an ``OSError``; waiting for a task's reply goes through ``Connection.poll``
(``select``), which the limit does not touch.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge
from typing import Any

__all__ = ["HANDSHAKE_TIMEOUT_S", "RequestThreads", "admit", "connect", "listen"]

# Key handshake, a request's arrival and each read of a reply: all are immediate between live
# processes on one machine.
HANDSHAKE_TIMEOUT_S = 5.0


def _limit(sock: socket.socket, seconds: float) -> None:
    value = struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def listen(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(address)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


def _checked(sock: socket.socket, key: bytes, first: Any, second: Any) -> Connection:
    conn = Connection(sock.detach())
    try:
        first(conn, key)
        second(conn, key)
    except BaseException:
        conn.close()
        raise
    return conn


def admit(sock: socket.socket, key: bytes) -> Connection:
    """The service's side of an accepted socket, once the client proved it knows ``key`` (and
    the service did): ``AuthenticationError``, ``EOFError`` or ``OSError`` otherwise."""
    _limit(sock, HANDSHAKE_TIMEOUT_S)
    return _checked(sock, key, deliver_challenge, answer_challenge)


def connect(address: str, key: bytes) -> Connection:
    """A client's connection to the service at ``address``, key checked both ways."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    _limit(sock, HANDSHAKE_TIMEOUT_S)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return _checked(sock, key, answer_challenge, deliver_challenge)


class RequestThreads:
    """``threads`` daemon threads running submitted calls. Not a ThreadPoolExecutor: the
    interpreter joins its threads before it exits, so a run stopped mid-task would wait for
    the service to finish it; a daemon thread ends with the process, whose closed connections
    make the service cancel the task (killing its worker)."""

    def __init__(self, threads: int) -> None:
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._size = threads
        self._started = 0  # threads start with the first calls: a ping needs none
        self._lock = threading.Lock()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:
                future.set_exception(exc)

    def submit(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, lambda: call(*args, **kwargs)))
        with self._lock:
            if self._started < self._size:
                self._started += 1
                threading.Thread(target=self._serve, daemon=True, name="engine-service").start()
        return future

    def close(self) -> None:
        with self._lock:
            for _ in range(self._started):
                self._calls.put(None)
