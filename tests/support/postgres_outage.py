"""A throw-away PostgreSQL server of a test's own, which the test stops and starts again: an
instance storage outage. scripts/postgres-test-server.sh creates it (TCP on 127.0.0.1 only, no
Unix socket); this stops and starts it with the same options. The shared server of
support/postgres_server.py is never stopped: other tests use it.

Needs Debian's postgresql package (.ci/run installs it); without it the tests skip, except under
CI=true, where they fail. Every wait is bounded (``WAIT_S``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
WAIT_S = 60


def _server_bindir() -> Path | None:
    """The newest installed server's binaries (Debian keeps them out of PATH), as the script
    finds them."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


@dataclass(frozen=True)
class OutageServer:
    directory: Path
    bindir: Path
    env: dict[str, str]  # the script's DIR/env: URL, PGHOST, PGPORT, PGPASSWORD, ...

    @property
    def url(self) -> str:
        return self.env["TRADING_RUNTIME_TEST_POSTGRES_URL"]

    @property
    def address(self) -> str:
        return f"{self.env['PGHOST']}:{self.env['PGPORT']}"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), f"--pgdata={self.directory / 'data'}", *args]
        if os.geteuid() == 0:  # the server runs as the package's user, as the script starts it
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=WAIT_S + 10)

    def stop(self) -> None:
        self._pg_ctl("--mode=fast", "--wait", f"--timeout={WAIT_S}", "stop")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.env['PGPORT']}"
            " -c unix_socket_directories='' -c fsync=off"
        )
        self._pg_ctl(
            f"--log={self.directory / 'server.log'}",
            "--wait",
            f"--timeout={WAIT_S}",
            "-o",
            options,
            "start",
        )


@pytest.fixture(scope="module")
def outage_server() -> Iterator[OutageServer]:
    bindir = _server_bindir()
    if bindir is None:
        reason = "no PostgreSQL server binaries under /usr/lib/postgresql (.ci/run installs them)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true: CI must run the outage tests")
        pytest.skip(reason)
    # Not pytest's tmp_path: its parents are private to this user, and as root the server runs
    # as `postgres`; the script hands this directory to that user.
    directory = Path(tempfile.mkdtemp(prefix="trading-runtime-outage-"))
    environ = {**os.environ, "POSTGRES_TEST_WAIT_S": str(WAIT_S)}
    try:
        subprocess.run(
            [str(SCRIPT), "start", str(directory)],
            check=True,
            capture_output=True,
            timeout=WAIT_S + 30,
            env=environ,
        )
        lines = (directory / "env").read_text().splitlines()
        env = dict(line.split("=", 1) for line in lines if "=" in line)
        yield OutageServer(directory, bindir, env)
    finally:
        subprocess.run(
            [str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=WAIT_S + 30
        )
