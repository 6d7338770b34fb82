"""Who owns a run's leftovers: a process identity that survives pid reuse, and whether it lives.

A staging directory (and a Dagster run launched by the CLI) records its owner as host, pid and
the process's start time; the next run removes what a dead owner left behind. Start times come
from ``/proc`` (Linux, where the runtime runs); elsewhere only the pid is compared.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["ProcessIdentity", "current_process", "read_owner", "write_owner"]


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = stat.rpartition(")")[2].split()
    return int(fields[19]) if len(fields) > 19 else None


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    start_ticks: int | None

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """True unless this host's process is provably gone (another host's: assumed alive)."""
        if not self.is_local():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, owned by someone else
        ticks = _start_ticks(self.pid)
        return self.start_ticks is None or ticks is None or ticks == self.start_ticks


def current_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), pid, _start_ticks(pid))


def write_owner(path: Path, owner: ProcessIdentity | None = None) -> None:
    path.write_text(json.dumps(asdict(owner or current_process())) + "\n")


def read_owner(path: Path) -> ProcessIdentity | None:
    """The identity in an owner file, or None when it is missing or unreadable."""
    try:
        raw = json.loads(path.read_text())
        return ProcessIdentity(str(raw["host"]), int(raw["pid"]), raw.get("start_ticks"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
