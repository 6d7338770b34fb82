"""SIGINT and SIGTERM stop a command: ``Interrupted`` is raised in the main thread, the engine
workers are killed, this process's staging is removed, and the process exits 130 or 143 with one
line.

Dagster's ``execute_in_process`` turns either signal, received in the main thread, into a failure
of the running step only (``DagsterExecutionInterruptedError``) and keeps the signal from the
caller, so a loop over runs went on. A run started through ``run_interruptibly`` executes in
another thread, where Dagster installs no signal handling; the main thread waits and gets the
signal itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

__all__ = [
    "Interrupted",
    "exit_interrupted",
    "run_interruptibly",
    "signals_raise",
]

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a stopping command waits for its run thread to end once the workers are killed.
RUN_THREAD_GRACE_S = 10.0


class Interrupted(BaseException):  # not an Exception: nothing on the way may catch it
    """SIGINT or SIGTERM arrived; ``pending`` is the thread still running a Dagster run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.pending: threading.Thread | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def _raise(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


# The terminal's stderr as it was when the command started. While a step runs, Dagster's compute
# log capture points file descriptor 2 at a pipe to a watcher process; Ctrl-C reaches the whole
# process group, the watcher dies with it, and a line written to descriptor 2 then was lost.
_terminal_stderr: int | None = None


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``Interrupted`` in the main thread."""
    global _terminal_stderr
    saved, _terminal_stderr = _terminal_stderr, os.dup(2)
    previous = {sig: signal.signal(sig, _raise) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(_terminal_stderr)
        _terminal_stderr = saved


def ignore_signals() -> None:
    """While stopping (bounded): a second Ctrl-C must not cut the clean-up short."""
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def run_interruptibly(function: Callable[[], T]) -> T:
    """``function()`` in a thread of its own; the main thread waits and takes the signals. On
    ``Interrupted`` the thread is left running (``Interrupted.pending``)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="dagster-run", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except Interrupted as exc:
        exc.pending = thread
        raise
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def stop_workers(exc: Interrupted) -> None:
    """Kill the engine workers, then wait (bounded) for a pending run thread to end."""
    from trading_runtime.backtest.pool import close_shared_pools

    ignore_signals()
    close_shared_pools()
    if exc.pending is not None:
        exc.pending.join(RUN_THREAD_GRACE_S)
    close_shared_pools()  # any pool the run thread started meanwhile


def exit_interrupted(exc: Interrupted, what: str) -> NoReturn:
    """One line on stderr, then exit 128 + the signal's number, leaving no thread behind. The
    line goes straight to the terminal's stderr as the command started with it (not to whatever
    descriptor 2 is redirected to at the moment), and unbuffered: a text wrapper's buffer (click
    wraps stderr when its encoding is not UTF-8) would be lost by ``os._exit``."""
    sys.stdout.flush()
    with contextlib.suppress(OSError):  # descriptor 2 may be a pipe to a dead log watcher
        sys.stderr.flush()
    line = f"interrupted by {exc.name}: {what}\n".encode(errors="replace")
    os.write(_terminal_stderr if _terminal_stderr is not None else 2, line)
    os._exit(exc.exit_code)
