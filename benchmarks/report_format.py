"""What the report's sections share: number formatting, the machine description and
``ReportData``, the collected data with its accessors."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.measure import REPO_ROOT, median_min_max
from benchmarks.options import STORAGES

if TYPE_CHECKING:
    from benchmarks.options import Options

# A results-table row: (measurement, what it includes, values, unit).
Row = tuple[str, str, Sequence[float], str]
# A target: (name, goal, measured, verdict: True pass, False fail, None not measurable).
Target = tuple[str, str, str, bool | None]


def fmt(value: float | None, unit: str = "s", digits: int = 3) -> str:
    if value is None or value != value:  # NaN
        return "n/a"
    return f"{value:.{digits}g} {unit}".strip()


def stat_cells(values: Sequence[float], unit: str = "s") -> tuple[str, str, str]:
    med, low, high = median_min_max(values)
    return fmt(med, unit), f"{fmt(low, unit)} - {fmt(high, unit)}", str(len(values))


def med(values: Sequence[float]) -> float:
    return median_min_max(values)[0]


class ReportData:
    """The options and the data of one run (``harness.run_all``, or a saved ``data.json``: the
    worker counts of ``floor`` and ``backfill`` become ints again, and a ``backfill`` saved
    before the storages (by workers only) reads as SQLite's), with the accessors the sections
    use. ``backfill`` is by storage, then workers."""

    def __init__(self, options: Options, data: dict[str, Any]) -> None:
        self.o = options
        self.d = dict(data)
        self.d["floor"] = {int(k): v for k, v in data.get("floor", {}).items()}
        backfill = data.get("backfill", {})
        if backfill and all(str(k).isdigit() for k in backfill):
            backfill = {"sqlite": backfill}
        self.d["backfill"] = {
            storage: {int(k): v for k, v in by_workers.items()}
            for storage, by_workers in backfill.items()
        }

    @property
    def storages(self) -> list[str]:
        """The storages the backfill was measured on, in report order."""
        return [s for s in STORAGES if s in self.d["backfill"]]

    @property
    def skipped_storages(self) -> dict[str, str]:
        """Storages asked for but not measured: why (e.g. no PostgreSQL server)."""
        return dict(self.d.get("storages", {}).get("skipped", {}))

    def children(self, kind: str, storage: str | None = None) -> dict[int, list[dict[str, Any]]]:
        """A scenario's child results by workers: ``floor``, or ``backfill`` on ``storage``."""
        if kind == "backfill":
            assert storage is not None, "the backfill's runs are per storage"
            return dict(self.d["backfill"].get(storage, {}))
        return dict(self.d.get(kind, {}))

    def runs(
        self, kind: str, workers: int, label: str, storage: str | None = None
    ) -> list[dict[str, Any]]:
        children = self.children(kind, storage).get(workers, [])
        return [r for child in children for r in child["runs"] if r["label"] == label]

    def seconds(
        self, kind: str, workers: int, label: str, storage: str | None = None
    ) -> list[float]:
        return [r["seconds"] for r in self.runs(kind, workers, label, storage)]

    def step_median(self, runs: Sequence[dict[str, Any]], step: str) -> float:
        return med([r["breakdown"]["steps"].get(step, 0.0) for r in runs])

    def warm_task_s(self) -> float:
        walls = [w for r in self.runs("floor", self.o.workers, "warm") for w in r["walls"]]
        return med(walls)


def machine_description() -> dict[str, str]:
    """Cores, RAM, CPU, kernel, Python, package versions and the git commit."""
    return {
        "cores": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})",
        "ram": _ram(),
        "cpu": _cpu(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **_versions(),
        "git": _git(),
    }


def _cpu() -> str:
    cpuinfo: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            cpuinfo.setdefault(key.strip(), value.strip())
    return (
        f"{cpuinfo.get('model name', 'unknown')} (family {cpuinfo.get('cpu family', '?')}, model"
        f" {cpuinfo.get('model', '?')}, {cpuinfo.get('cpu MHz', '?')} MHz"
        + (", virtualized" if "hypervisor" in cpuinfo.get("flags", "").split() else "")
        + ")"
    )


def _ram() -> str:
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return ram


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("dagster", "hftbacktest", "numpy", "numba", "pyarrow", "pebble"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _git() -> str:
    """The short commit, and which files of trading_runtime have uncommitted changes."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "trading_runtime"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    ).stdout.split("\n")
    changed = sorted(line[3:] for line in dirty if line.strip())
    return f"{commit}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def trim_profile(text: str, width: int = 160) -> str:
    """cProfile text without blank and header lines, repository and prefix paths, cut to width."""
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("Ordered by", "List reduced")):
            continue
        line = line.replace(str(REPO_ROOT) + "/", "").replace(sys.prefix + "/", "")
        lines.append(line[:width])
    return "\n".join(lines)
