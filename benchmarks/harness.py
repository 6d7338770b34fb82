"""The parent side: the work directory, the scenarios in order (``run_all``), each in fresh
child processes (``launcher``), and the PostgreSQL server the backfills use (``postgres``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import phases
from benchmarks.launcher import Launcher
from benchmarks.options import Options
from benchmarks.postgres import ServerUnavailable, throwaway_postgres


@contextlib.contextmanager
def work_directory(keep: bool, base: Path) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="work-", dir=base))
    try:
        yield path
    finally:
        if keep:
            print(f"work directory kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_all(options: Options, work: Path) -> dict[str, Any]:
    """Every scenario of ``options.only``, each in fresh child processes; the collected data."""
    launcher = Launcher(options, work)
    o = options
    data: dict[str, Any] = {"started": dt.datetime.now().isoformat(timespec="seconds")}
    print("data")
    bench, large_dir = phases.prepare_parts(launcher, work, data)
    if "floor" in o.only:
        data["floor"] = phases.floor(bench)
    if "engine" in o.only and large_dir is not None:
        data["engine"] = phases.engine(bench, large_dir)
    if "backfill" in o.only:
        with contextlib.ExitStack() as stack:
            data["storages"], admin_url = _storages(o, stack)
            data["backfill"] = phases.backfill(bench, data["storages"]["measured"], admin_url)
    if "perpart" in o.only:
        data["perpart"] = phases.perpart(bench)
    if "cli" in o.only:
        data["cli"] = phases.cli(bench)
    if "aggregate" in o.only or "defs" in o.only:
        data["prepare_many"] = phases.prepare_many(bench)
    if "aggregate" in o.only:
        data["aggregate_many"] = phases.aggregate_many(bench)
    if "defs" in o.only:
        data["defs"] = phases.definitions(bench)
    data["contention"] = launcher.contention
    data["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return data


def _storages(
    options: Options, stack: contextlib.ExitStack[Any]
) -> tuple[dict[str, Any], str | None]:
    """The storages the backfills run on, for the report: ``measured`` (names, in order),
    ``skipped`` (name: why) and ``server`` (how PostgreSQL was provided); and the PostgreSQL
    admin URL, if any: ``--postgres-url``, or a throw-away server that ``stack`` stops. A server
    that cannot start is skipped, with the reason, and the run goes on without it."""
    found: dict[str, Any] = {"measured": [], "skipped": {}, "server": None}
    admin_url = None
    for storage in options.storages:
        if storage == "postgres":
            if options.postgres_url:
                admin_url = options.postgres_url
                found["server"] = "given (--postgres-url)"
            else:
                print("starting a throw-away PostgreSQL for the backfills")
                try:
                    server = stack.enter_context(throwaway_postgres())
                except ServerUnavailable as exc:
                    print(f"    PostgreSQL not measured: {exc}")
                    found["skipped"]["postgres"] = str(exc)
                    continue
                admin_url = server.admin_url
                found["server"] = f"throw-away PostgreSQL {server.version}".strip()
        found["measured"].append(storage)
    return found, admin_url
