"""Single-run backfills on SQLite and PostgreSQL side by side, with and without each write lever.

    python -m benchmarks.storage_levers [--parts 40] [--events 100000] [--rounds 2]

One process, one warm worker pool. Per round: the engine floor (``backtest_tasks`` over the
parts), then for each storage and lever a fresh instance (a new SQLite home, or a new database
on a throw-away PostgreSQL started as the tests start it, ``scripts/postgres-test-server.sh``)
and the backfill as ``materialize --single-run`` runs it (``validate_parts`` then
``backtest_parts``). Reported per backfill: wall time, the parent's CPU time (orchestration:
the engine runs in the workers) and the events the backtest run wrote. The sides alternate
within each round, so a busy machine weighs on all of them alike.

Levers (``runs.run_writes``): ``default`` is what a run does now (kept connections,
batched event writes); ``nokeep`` drops the kept connections (Dagster's own default: a new
connection per write); ``nobatch`` drops the batches; ``subset`` adds Dagster's one planned
event per asset (``DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS``, left off in the runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.postgres import create_database, dagster_yaml, throwaway_postgres

LEVERS = ("default", "nokeep", "nobatch", "subset")
_ENV = ("DAGSTER_EVENT_BATCH_SIZE", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS")


def _instance(storage: str, home: Path, admin_url: str | None, lever: str) -> Any:
    """A fresh instance for one backfill, opened as the CLI opens it (``open_instance``)."""
    from trading_runtime.runs.instance import open_instance
    from trading_runtime.runs.run_writes import EVENT_BATCH_SIZE

    home.mkdir(parents=True)
    url = None
    if storage == "postgres":
        assert admin_url is not None
        url = create_database(admin_url, home.name)
    (home / "dagster.yaml").write_text(dagster_yaml(url, telemetry={"enabled": False}))
    os.environ["DAGSTER_HOME"] = str(home)
    for name in _ENV:
        os.environ.pop(name, None)
    os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "0" if lever == "nobatch" else str(EVENT_BATCH_SIZE)
    if lever == "subset":
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
    return open_instance()


@contextmanager
def _without_pooling(lever: str) -> Iterator[None]:
    """For ``nokeep``: runs keep Dagster's new connection per write, on either storage."""
    from trading_runtime.runs import run_writes

    originals = (run_writes.pool_storage_connections, run_writes.keep_sqlite_connections)
    if lever == "nokeep":
        run_writes.pool_storage_connections = lambda instance: 0
        run_writes.keep_sqlite_connections = lambda instance: 0
    try:
        yield
    finally:
        run_writes.pool_storage_connections, run_writes.keep_sqlite_connections = originals


def _backfill(parts_dir: Path, work: Path, instance: Any, label: str) -> dict[str, Any]:
    from trading_runtime.data.parts_store import list_part_keys
    from trading_runtime.defs import build_definitions
    from trading_runtime.runs.instance import register_parts
    from trading_runtime.runs.launch import failure_messages, run_partition_range
    from trading_runtime.settings import RuntimeSettings

    keys = list_part_keys(str(parts_dir))
    results = work / f"results-{label}"
    settings = RuntimeSettings(parts_dir=str(parts_dir), results=str(results), workers=2)
    defs = build_definitions(settings)
    register_parts(instance, keys)
    wall, cpu = time.perf_counter(), time.process_time()
    validated = run_partition_range(defs.resolve_job_def("validate_parts"), instance, keys)
    backtest = defs.resolve_job_def("backtest_parts")
    backfill = run_partition_range(backtest, instance, [f"{keys[0]}|base", f"{keys[-1]}|base"])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if not (validated.success and backfill.success):
        raise RuntimeError("\n".join(failure_messages(validated) + failure_messages(backfill)))
    events = len(instance.all_logs(backfill.run_id))
    shutil.rmtree(results, ignore_errors=True)
    return {"wall_s": wall, "parent_cpu_s": cpu, "events": events}


def _floor(parts_dir: Path, out: Path) -> tuple[float, dict[str, str]]:
    """The floor's wall time; the parts that failed, with why."""
    from benchmarks.scenarios.common import part_tasks
    from trading_runtime.backtest.fan_out import backtest_tasks
    from trading_runtime.config import example_config_path, load_config

    tasks = part_tasks(parts_dir, out)
    started = time.perf_counter()
    outcomes = backtest_tasks(
        load_config(example_config_path("hftbacktest")), tasks, workers=2, chart=False
    )
    elapsed = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return elapsed, {k: str(v) for k, v in outcomes.items() if isinstance(v, Exception)}


def screen(parts_dir: Path, n_parts: int, work: Path) -> None:
    """Keep the first ``n_parts`` parts the engine runs (a generated part can fail, as in the
    main benchmark's screen); this also compiles both workers before anything is timed."""
    from trading_runtime.data.parts_store import list_part_keys, part_location

    _, failed = _floor(parts_dir, work / "floor-screen")
    kept = [key for key in list_part_keys(str(parts_dir)) if key not in failed][:n_parts]
    for key in list_part_keys(str(parts_dir)):
        if key not in kept:
            Path(part_location(str(parts_dir), key).path).unlink()
    if len(kept) < n_parts:
        raise RuntimeError(f"only {len(kept)} of the generated parts ran: {failed}")


def measure(parts_dir: Path, rounds: int, work: Path, admin_url: str) -> dict[str, Any]:
    found: dict[str, Any] = {"floor_s": []}
    for round_no in range(rounds):
        elapsed, failed = _floor(parts_dir, work / f"floor-{round_no}")
        if failed:
            raise RuntimeError(f"floor: {failed}")
        found["floor_s"].append(elapsed)
        print(f"floor-{round_no} {elapsed:.2f} s", flush=True)
        for storage in ("sqlite", "postgres"):
            for lever in LEVERS:
                label = f"{storage}-{lever}-{round_no}"
                with _without_pooling(lever):
                    instance = _instance(storage, work / label, admin_url, lever)
                    try:
                        run = _backfill(parts_dir, work, instance, label)
                    finally:
                        instance.dispose()
                found.setdefault(f"{storage} {lever}", []).append(run)
                print(label, json.dumps(run), flush=True)
    return found


def report(found: dict[str, Any], n_parts: int) -> str:
    floor = statistics.median(found["floor_s"])
    lines = [
        f"engine floor (W=2, warm): median {floor:.2f} s over {len(found['floor_s'])} rounds",
        "",
        "| storage, lever | wall s (median) | ÷ floor | parent CPU s | per partition,"
        " wall - floor | events (backtest run) |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs in found.items():
        if name == "floor_s":
            continue
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["parent_cpu_s"] for r in runs)
        lines.append(
            f"| {name} | {wall:.2f} | {wall / floor:.2f} | {cpu:.2f} |"
            f" {(wall - floor) / n_parts:.3f} s | {runs[0]['events']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage_levers")
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    with tempfile.TemporaryDirectory(prefix="storage-levers-") as tmp:
        work = Path(tmp)
        spec = GeneratorSpec(parts=args.parts + 4, events=args.events, seed=args.seed)
        generate_parts(spec, work / "parts")
        screen(work / "parts", args.parts, work)
        with throwaway_postgres("storage-levers-postgres-") as server:
            found = measure(work / "parts", args.rounds, work, server.admin_url)
        print()
        print(report(found, args.parts))


if __name__ == "__main__":
    main()
