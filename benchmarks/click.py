"""Click to result: one partition launched as its own run from a running `dg dev`, as the UI's
Materialize button launches it, with the warm engine service on and off (issue 21, item 3).

``python -m benchmarks.click [--clicks 4] [--events 100000]``: for each mode, a fresh instance
(the Makefile's, as `make dev` uses), parts validated beforehand, then `dg dev` on loopback (from
the repository's root, as `make dev` runs it) and ``--clicks`` GraphQL ``launchRun``s of
``backtest_parts``, one partition each, one after the other. Each is timed from the launch request
until the run reads SUCCESS, polled every 0.05 s: the run queue, the run process's start, the
backtest and Dagster's writes. The first click compiles the strategy (with the service: in the
service, once); the target applies to the clicks after it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 3.0
_LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }
"""
_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
_LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"


def _post(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        document: dict[str, Any] = json.loads(response.read())
    if document.get("errors"):
        raise RuntimeError(f"GraphQL errors: {document['errors']}")
    return dict(document["data"])


def _prepare(work: Path, events: int, clicks: int) -> tuple[Path, list[str]]:
    """Parts generated and validated in a fresh instance (the Makefile's dagster.yaml)."""
    from trading_runtime.data.generate import GeneratorSpec, generate_parts
    from trading_runtime.data.parts_store import list_part_keys
    from trading_runtime.defs import build_definitions
    from trading_runtime.runs.instance import open_instance, register_parts
    from trading_runtime.runs.launch import run_partition_range
    from trading_runtime.settings import RuntimeSettings

    home = work / "home"
    subprocess.run(
        ["make", "-s", f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"], cwd=REPO, check=True
    )
    parts = work / "parts"
    generate_parts(GeneratorSpec(parts=clicks, events=events, seed=7), parts)
    keys = list_part_keys(str(parts))
    os.environ["DAGSTER_HOME"] = str(home)
    instance = open_instance()
    register_parts(instance, keys)
    defs = build_definitions(RuntimeSettings(parts_dir=str(parts), results=str(work / "results")))
    validated = run_partition_range(defs.resolve_job_def("validate_parts"), instance, keys)
    if not validated.success:
        raise RuntimeError("validating the benchmark's parts failed")
    instance.dispose()
    return home, keys


def _serve(work: Path, home: Path, mode: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_RUNTIME_")}
    env.update(
        DAGSTER_HOME=str(home),
        PYTHONPATH=str(REPO),
        TRADING_RUNTIME_PARTS_DIR=str(work / "parts"),
        TRADING_RUNTIME_RESULTS=str(work / "results"),
        TRADING_RUNTIME_AUTOMATION="off",
        TRADING_RUNTIME_ENGINE_SERVICE=mode,
    )
    dg = Path(sys.executable).with_name("dg")
    with open(work / f"dg-dev-{mode}.log", "wb") as log:
        process = subprocess.Popen(
            [str(dg), "dev", "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 240
    while True:  # bounded: it answers with a loaded location, exits, or the deadline passes
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dg dev not serving; see {work / f'dg-dev-{mode}.log'}")
        try:
            if _post(port, _LOCATIONS)["workspaceOrError"]["locationEntries"]:
                return process, port
        except (urllib.error.URLError, OSError, RuntimeError, KeyError):
            pass
        time.sleep(0.5)


def _click(port: int, location: str, key: str) -> float:
    """Seconds from launching ``key|base`` until its run reads SUCCESS."""
    tags = {"dagster/partition": f"{key}|base", "dagster/partition/part": key}
    tags["dagster/partition/variant"] = "base"
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "jobName": "backtest_parts",
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    started = time.perf_counter()
    launched = _post(port, _LAUNCH, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launch refused: {launched}")
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = _post(port, _STATUS, {"id": run_id})["runOrError"]["status"]
        if status == "SUCCESS":
            return time.perf_counter() - started
        if status in ("FAILURE", "CANCELED"):
            raise RuntimeError(f"run {run_id} of {key} ended {status}")
        time.sleep(0.05)
    raise RuntimeError(f"run {run_id} of {key} did not end in 600 s")


def _startup_s(key: str) -> float:
    """The backtest's start-up in its worker (validation, and compilation when cold), from the
    materialization's metadata."""
    from dagster import AssetKey, AssetRecordsFilter

    from trading_runtime.runs.instance import open_instance

    instance = open_instance()
    try:
        records = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey("backtest_results"), asset_partitions=[f"{key}|base"]
            ),
            limit=1,
        ).records
        metadata = records[0].asset_materialization.metadata  # type: ignore[union-attr]
        return float(metadata["startup_s"].value)  # type: ignore[arg-type]
    finally:
        instance.dispose()


def measure(mode: str, clicks: int, events: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix=f"click-{mode}-") as tmp:
        work = Path(tmp)
        home, keys = _prepare(work, events, clicks)
        process, port = _serve(work, home, mode)
        try:
            entries = _post(port, _LOCATIONS)["workspaceOrError"]["locationEntries"]
            location = entries[0]["name"]
            seconds = []
            for key in keys[:clicks]:
                seconds.append(_click(port, location, key))
                startup = _startup_s(key)
                print(f"  {mode}: {key} {seconds[-1]:.2f} s (start-up {startup:.2f} s)", flush=True)
            return seconds
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def report(found: dict[str, list[float]]) -> str:
    lines = [
        "| engine service | first click | later clicks, median | later clicks |"
        f" target ≤ {TARGET_S:g} s |",
        "|---|---|---|---|---|",
    ]
    for mode, seconds in found.items():
        later = seconds[1:]
        median = statistics.median(later) if later else float("nan")
        verdict = "PASS" if median <= TARGET_S else "FAIL"
        spread = ", ".join(f"{s:.2f}" for s in later)
        lines.append(f"| {mode} | {seconds[0]:.2f} s | {median:.2f} s | {spread} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.click")
    parser.add_argument("--clicks", type=int, default=4)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--modes", default="off,on", help="engine service modes, in order")
    args = parser.parse_args()
    found = {mode: measure(mode, args.clicks, args.events) for mode in args.modes.split(",")}
    print()
    print(report(found))


if __name__ == "__main__":
    main()
