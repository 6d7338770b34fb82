"""What tests/test_stateful.py does to a working directory: `materialize` as a real process
group (run to the end, or stopped by a signal at a chosen moment), parts rewritten atomically,
stored result files damaged, and what a clean state must look like afterwards.

Every wait is bounded: a hung command is killed and reported, never waited on forever.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from support.cli_processes import MATERIALIZE, cli_env, process_stats
from trading_runtime.layout import RESULT_FILE, RESULTS_DIR, STAGING_DIR, VERSIONS_DIR

RUN_S = 600.0  # one whole `materialize` of a few tiny parts, on a loaded 2-core machine
STOP_S = 30.0  # from a signal to the exit (tests/test_signals.py allows 15 s for SIGINT/SIGTERM)
GROUP_GONE_S = 30.0  # until no process of a stopped command's group is left

# How a running command is stopped: the signal and whether the whole group gets it (Ctrl-C and
# a supervisor's SIGKILL do; `kill -TERM <pid>` does not).
STOPS = {
    "SIGINT to the group": (signal.SIGINT, True),
    "SIGTERM to the command": (signal.SIGTERM, False),
    "SIGTERM to the group": (signal.SIGTERM, True),
    "SIGKILL to the group": (signal.SIGKILL, True),
}
# Lines of `materialize`'s stdout after which a stop may come: registration done, the plan
# printed, a first partition backtested.
MILESTONES = ("part(s) in ", " to backtest", " ok     ")


@dataclass(frozen=True)
class Workspace:
    """One test's directories: parts, results, the Dagster instance, sweep files (none)."""

    root: Path

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def partitions(self) -> Path:
        return self.results / RESULTS_DIR

    @property
    def staging(self) -> Path:
        return self.partitions / STAGING_DIR

    def create(self) -> None:
        for directory in (self.parts, self.results, self.root / "sweeps"):
            directory.mkdir(parents=True, exist_ok=True)
        self.env()  # the instance's home and its dagster.yaml

    def env(self) -> dict[str, str]:
        return {
            **cli_env(self.root, []),  # parts, results and the instance under the root
            "TRADING_RUNTIME_SWEEPS_DIR": str(self.root / "sweeps"),
            "PYTHONUNBUFFERED": "1",  # its stdout's lines as they are printed
        }


@dataclass
class Outcome:
    """How a command ended: its exit code (negative: killed by that signal) and output."""

    returncode: int
    stdout: str
    stderr: str
    stopped: bool = False  # a signal was sent before it exited

    def tail(self) -> str:
        """What a failure message shows: the exit code and the ends of both streams."""
        out, err = self.stdout[-3000:], self.stderr[-3000:]
        return f"exit {self.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


@dataclass
class _Reader:
    """Collects a pipe's lines in a thread, so the caller can poll without blocking."""

    pipe: object
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.pipe:  # type: ignore[attr-defined]
            self.lines.append(line)

    def text(self) -> str:
        self.thread.join(10)
        return "".join(self.lines)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    return [pid for pid, fields in process_stats() if int(fields[2]) == pgid and fields[0] != "Z"]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
    except OSError:
        return "?"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_materialize(
    workspace: Workspace,
    stop: str | None = None,
    after: str = "",
    delay_s: float = 0.0,
    args: tuple[str, ...] = (),
) -> Outcome:
    """`materialize` in its own process group. With ``stop`` (a key of ``STOPS``): once
    ``after`` (one of ``MILESTONES``) is on its stdout, wait ``delay_s`` and send that signal,
    if it is still running then. Leftover processes of the group fail the call."""
    process = subprocess.Popen(
        [*MATERIALIZE, *args],
        env=workspace.env(),
        cwd=workspace.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a shell's job
    )
    out, err = _Reader(process.stdout), _Reader(process.stderr)
    stopped = False
    try:
        deadline = time.monotonic() + RUN_S
        if stop is not None:
            while process.poll() is None and not any(after in line for line in out.lines):
                if time.monotonic() > deadline:
                    raise AssertionError(f"materialize never printed {after!r}: {err.text()}")
                time.sleep(0.05)
            time.sleep(delay_s)
            if process.poll() is None:
                signum, group = STOPS[stop]
                if group:
                    os.killpg(process.pid, signum)
                else:
                    process.send_signal(signum)
                stopped = True
                deadline = time.monotonic() + STOP_S
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            why = f"after {stop}" if stopped else "a whole run"
            raise AssertionError(f"materialize did not exit ({why})") from None
    finally:
        if process.poll() is None:
            _kill_group(process.pid)
            process.wait(timeout=30)
    outcome = Outcome(process.returncode, out.text(), err.text(), stopped)
    # A killed command's helpers (Dagster's compute-log watchers) notice within a second or so.
    gone_by = time.monotonic() + GROUP_GONE_S
    while (left := group_members(process.pid)) and time.monotonic() < gone_by:
        time.sleep(0.2)
    if left:
        commands = {pid: _command_line(pid) for pid in left}
        _kill_group(process.pid)
        raise AssertionError(f"processes {commands} outlived materialize\n{outcome.tail()}")
    return outcome


def replace_part(workspace: Workspace, name: str, source: Path) -> None:
    """``source``'s bytes as part ``name``: written beside, then renamed (what a sync tool
    does), so a reader sees the old file or the new one."""
    temp = workspace.root / f".incoming-{uuid.uuid4().hex}"
    shutil.copyfile(source, temp)
    os.replace(temp, workspace.parts / name)


def stored_keys(workspace: Workspace) -> list[str]:
    """Partitions with a directory in the results (a result.json or not)."""
    if not workspace.partitions.is_dir():
        return []
    return sorted(p.name for p in workspace.partitions.iterdir() if not p.name.startswith("."))


def damage_targets(workspace: Workspace, key: str) -> list[Path]:
    """What can be damaged in a stored partition: its result.json, each version directory and
    every file in them; sorted, so a drawn index names the same path in a replay."""
    part = workspace.partitions / key
    targets = [part / RESULT_FILE] if (part / RESULT_FILE).is_file() else []
    versions = part / VERSIONS_DIR
    if versions.is_dir():
        for version in sorted(versions.iterdir()):
            targets.append(version)
            targets.extend(sorted(p for p in version.iterdir() if p.is_file()))
    return targets


def damage(path: Path, how: str) -> None:
    """``flip`` a byte, ``truncate`` to half, or ``delete`` a file or directory (a flip or
    truncation of a directory deletes it)."""
    if path.is_dir() or how == "delete":
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        return
    data = bytearray(path.read_bytes())
    if how == "flip" and data:
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
