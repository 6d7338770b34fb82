"""A real `dg dev` (webserver and daemon) or `dagster-webserver` for end-to-end tests: on a
free loopback port, against a temporary instance written by the Makefile, stopped (its whole
process group: webserver, daemon, code server, run workers, engine workers) in every case."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_instance(home: Path) -> None:
    """The instance `make dev` and `make run` use (the Makefile's dagster.yaml)."""
    subprocess.run(
        ["make", "-s", f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"],
        cwd=REPO,
        check=True,
        timeout=60,
    )


def project_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a Dagster process running this checkout's code on ``home``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "DAGSTER_HOME": str(home),
        **{f"TRADING_RUNTIME_{name.upper()}": value for name, value in settings.items()},
    }


@dataclass(frozen=True)
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL query; an error names the query's problems."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                document = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"GraphQL answered {exc.code}: {exc.read()[:3000]!r}") from None
        if document.get("errors"):
            raise AssertionError(f"GraphQL errors: {document['errors']}")
        return dict(document["data"])

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries {
  name locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def locations(server: Server) -> list[dict[str, Any]]:
    """The workspace's code locations: name and load state (None while loading)."""
    return list(server.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"])


def _answers(server: Server) -> bool:
    """The webserver answers and its code locations are loaded (or failed to load)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}/server_info", timeout=5
        ) as response:
            if response.status != 200:
                return False
        entries = locations(server)
    except (urllib.error.URLError, OSError):
        return False
    return bool(entries) and all(entry["locationOrLoadError"] for entry in entries)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited: {server.tail()}")
        if _answers(server):
            return
        time.sleep(0.5)
    raise AssertionError(f"the server did not answer within {READY_TIMEOUT_S} s: {server.tail()}")


@contextlib.contextmanager
def running(
    command: list[str], env: Mapping[str, str], cwd: Path, log_dir: Path
) -> Iterator[Server]:
    """``command`` (with ``{port}`` filled in) started in its own session; ready when the
    webserver answers; stopped, with everything it started, in every case."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [part.format(port=port) for part in command],
            env=dict(env),
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        # Whatever is left in the session (run workers, engine workers), and the leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def dg_dev(env: Mapping[str, str], log_dir: Path) -> contextlib.AbstractContextManager[Server]:
    """`dg dev` from the repository's root, as `make dev` runs it: webserver and daemon."""
    command = [str(BIN / "dg"), "dev", "-h", "127.0.0.1", "-p", "{port}"]
    return running(command, env, REPO, log_dir)


def webserver(env: Mapping[str, str], cwd: Path) -> contextlib.AbstractContextManager[Server]:
    """`dagster-webserver` alone (no daemon) on the project's code location."""
    command = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", "{port}"]
    return running([*command, "-m", "trading_runtime.definitions"], env, cwd, cwd)
