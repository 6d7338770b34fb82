"""Who owns a run's leftovers: a process identity that survives pid reuse, and whether it lives.

A staging directory and a run launched by the CLI record their owner: host name, kernel boot,
pid namespace, pid and the process's start time (from ``/proc`` on Linux, where the runtime runs).
A process is judged dead only when it is provably gone: same host, same boot, same pid namespace,
and its pid no longer names a running process that started at the recorded time. Anything this
process cannot see (another host, another container sharing the host name, another boot) is
assumed alive: a leftover is harmless, removing a live run's files is not.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "ProcessIdentity",
    "current_process",
    "parse_identity",
    "process_start_ticks",
    "read_owner",
    "write_owner",
]

_PROC = Path("/proc")


def _read(path: str) -> str | None:
    try:
        return (_PROC / path).read_text().strip()
    except OSError:
        return None


def process_start_ticks(pid: int) -> int | None:
    """Start time of a running ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22);
    None when it is gone, a zombie (killed, not yet reaped: dead all the same) or unknowable."""
    stat = _read(f"{pid}/stat")
    if stat is None:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat.rpartition(")")[2].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _pid_namespace() -> str | None:
    try:
        return str(os.stat(_PROC / "self" / "ns" / "pid").st_ino)
    except OSError:
        return None


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    start_ticks: int | None
    boot_id: str | None = None
    pid_namespace: str | None = None

    def is_alive(self) -> bool:
        """False only when this process is provably gone (see the module doc)."""
        here = current_process()
        if self.host != here.host:
            return True
        for theirs, ours in (
            (self.boot_id, here.boot_id),
            (self.pid_namespace, here.pid_namespace),
        ):
            if theirs is not None and ours is not None and theirs != ours:
                return True  # another boot or container: its pids are not ours to check
        if _PROC.joinpath("self", "stat").exists():
            ticks = process_start_ticks(self.pid)
            return ticks is not None and (self.start_ticks is None or ticks == self.start_ticks)
        try:  # no /proc (macOS): the pid alone, which a later process may have reused
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(
        socket.gethostname(),
        pid,
        process_start_ticks(pid),
        _read("sys/kernel/random/boot_id"),
        _pid_namespace(),
    )


def write_owner(path: Path, owner: ProcessIdentity | None = None) -> None:
    path.write_text(json.dumps(asdict(owner or current_process())) + "\n")


def parse_identity(text: str) -> ProcessIdentity | None:
    """The identity in ``write_owner``'s JSON form, or None when it is unreadable."""
    try:
        raw = json.loads(text)
        return ProcessIdentity(
            str(raw["host"]),
            int(raw["pid"]),
            raw.get("start_ticks"),
            raw.get("boot_id"),
            raw.get("pid_namespace"),
        )
    except (ValueError, KeyError, TypeError):
        return None


def read_owner(path: Path) -> ProcessIdentity | None:
    """The identity in an owner file, or None when it is missing or unreadable."""
    try:
        return parse_identity(path.read_text())
    except OSError:
        return None
