"""The parent side: the work directory and the scenarios in order (``run_all``), each in fresh
child processes (``launcher``)."""

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
        data["backfill"] = phases.backfill(bench)
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
