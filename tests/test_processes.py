"""Owner identities: a process is dead only when provably gone."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from trading_runtime.backtest.processes import current_process, read_owner, write_owner


def test_an_exited_process_is_dead_and_a_live_one_alive(tmp_path: Path) -> None:
    me = current_process()
    assert me.is_alive()
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = dataclasses.replace(me, pid=int(exited.stdout))
    assert not gone.is_alive()
    reused = dataclasses.replace(me, start_ticks=(me.start_ticks or 0) + 1)
    assert not reused.is_alive()  # the pid now names a process that started at another time
    write_owner(tmp_path / "owner", gone)
    assert read_owner(tmp_path / "owner") == gone
    assert read_owner(tmp_path / "missing") is None


def test_what_this_process_cannot_see_is_assumed_alive() -> None:
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = dataclasses.replace(current_process(), pid=int(exited.stdout))
    assert gone.is_alive() is False
    # The same dead pid seen from another host, another boot or another container.
    assert dataclasses.replace(gone, host=gone.host + "-elsewhere").is_alive()
    assert dataclasses.replace(gone, boot_id="another-boot").is_alive()
    assert dataclasses.replace(gone, pid_namespace="4026530000").is_alive()
