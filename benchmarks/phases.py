"""The scenarios as run from the parent, one function each (``harness.run_all`` calls them in
order): the child processes they start, with which specs and labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.launcher import Launcher
from benchmarks.measure import clean_env
from benchmarks.options import Options
from benchmarks.scenarios.common import Spec
from benchmarks.scenarios.definitions import measure_definitions
from trading_runtime.layout import PART_SUFFIX, part_key


@dataclass
class Bench:
    """What the scenarios of one run share: the launcher, the work directory and the parts."""

    launcher: Launcher
    work: Path
    parts_dir: Path
    keys: list[str]

    @property
    def o(self) -> Options:
        return self.launcher.options

    @property
    def base(self) -> Spec:
        """The spec entries every orchestration scenario gets."""
        return {
            "parts_dir": str(self.parts_dir),
            "work": str(self.work),
            "timeout_s": self.o.task_timeout,
            "keys": self.keys,
        }

    @property
    def workers_list(self) -> list[int]:
        return sorted({self.o.workers, 1}, reverse=True)

    @property
    def sample(self) -> Path:
        """Where the floor keeps one real result (the template of the synthetic ones)."""
        return self.work / "sample-result"

    @property
    def many_home(self) -> Path:
        return self.work / "home-many"

    def first_part(self) -> str:
        return str(sorted(self.parts_dir.glob(f"*{PART_SUFFIX}"))[0])


def ensure_parts(launcher: Launcher, name: str, parts: int, events: int, seed: int) -> Path:
    target = launcher.options.cache_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    spec = {"target": str(target), "parts": parts, "events": events, "seed": seed}
    result = launcher.child("generate", spec, name)
    if result["generated"]:
        print(f"    generated {parts} x {events:,} events in {result['seconds']:.1f} s -> {target}")
    return target


def prepare_parts(
    launcher: Launcher, work: Path, data: dict[str, Any]
) -> tuple[Bench, Path | None]:
    """Generate (or reuse) the parts, screen them into the work directory's ``parts`` and, for
    the engine scenario, the large part; records ``screen``, ``parts_dir`` and ``parts_bytes``."""
    o = launcher.options
    # Spare parts: the ones the runtime fails on are reported and replaced by the next ones.
    generated = o.parts + max(2, o.parts // 10)
    generated_dir = ensure_parts(
        launcher, f"parts-{generated}x{o.events}-seed{o.seed}", generated, o.events, o.seed
    )
    parts_dir = work / "parts"
    data["screen"] = launcher.child(
        "screen",
        {
            "source": str(generated_dir),
            "target": str(parts_dir),
            "work": str(work),
            "wanted": o.parts,
            "workers": o.workers,
            "timeout_s": o.task_timeout,
        },
    )
    if data["screen"]["failed"]:
        print(f"    parts the runtime fails on (excluded): {data['screen']['failed']}")
    keys = sorted(part_key(p) for p in parts_dir.glob(f"*{PART_SUFFIX}"))
    large_dir = None
    if "engine" in o.only:
        large_dir = ensure_parts(launcher, f"large-{o.large_events}-seed{o.seed + 1}", 1,
                                 o.large_events, o.seed + 1)  # fmt: skip
    data["parts_dir"] = str(parts_dir)
    data["parts_bytes"] = sum(p.stat().st_size for p in parts_dir.glob(f"*{PART_SUFFIX}"))
    return Bench(launcher, work, parts_dir, keys), large_dir


def floor(bench: Bench) -> dict[int, list[dict[str, Any]]]:
    print("1. floor (backtest_tasks, no Dagster)")
    return {
        w: [
            bench.launcher.child(
                "floor",
                {**bench.base, "workers": w, "keep_sample": str(bench.sample)},
                f"w{w}-r{r}",
            )
            for r in range(bench.o.repeats)
        ]
        for w in bench.workers_list
    }


def engine(bench: Bench, large_dir: Path) -> dict[str, Any]:
    print("6. engine throughput")
    return bench.launcher.child(
        "engine",
        {
            "work": str(bench.work),
            "standard_part": bench.first_part(),
            "large_part": str(sorted(large_dir.glob(f"*{PART_SUFFIX}"))[0]),
            "repeats": max(3, bench.o.repeats),
        },
    )


def backfill(
    bench: Bench, storages: list[str], admin_url: str | None
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """The same backfill children on each storage (by storage, then workers); the storage order
    alternates between repeats, so a busy machine weighs on both alike. A PostgreSQL child
    creates a fresh database on ``admin_url`` per backfill."""
    print("2. single-run backfill (+ aggregate over N)")
    o = bench.o
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {s: {} for s in storages}

    def child(storage: str, workers: int, label: str, **spec: Any) -> dict[str, Any]:
        spec = {**bench.base, "workers": workers, "storage": storage, **spec}
        if storage == "postgres":
            spec["postgres_admin_url"] = admin_url
        return bench.launcher.child("backfill", spec, f"{storage}-w{workers}-{label}")

    for turn, (w, r) in enumerate((w, r) for w in bench.workers_list for r in range(o.repeats)):
        for storage in storages if turn % 2 == 0 else storages[::-1]:
            profile = o.profile and w == o.workers and r == 0
            run = child(storage, w, f"r{r}", aggregate=True, profile=profile)
            runs[storage].setdefault(w, []).append(run)
    if o.profile:
        for storage in storages:
            run = child(storage, o.workers, "profile-cold", aggregate=False, profile_cold_only=True)
            runs[storage][o.workers].append(run)
    return runs


def perpart(bench: Bench) -> list[dict[str, Any]]:
    print("3a. per-partition runs in one process")
    o = bench.o
    return [
        bench.launcher.child(
            "perpart",
            {**bench.base, "workers": o.workers, "profile": o.profile and r == 0},
            f"r{r}",
        )
        for r in range(o.repeats)
    ]


def cli(bench: Bench) -> dict[str, Any]:
    print("3b. per-partition runs in fresh processes (dagster asset materialize)")
    o, keys = bench.o, bench.keys
    step = max(1, len(keys) // max(1, o.cli_sample))
    sample_keys = keys[::step][: o.cli_sample]
    return bench.launcher.child(
        "cli", {**bench.base, "workers": o.workers, "sample_keys": sample_keys}
    )


def prepare_many(bench: Bench) -> dict[str, Any]:
    print(f"4/5. {bench.o.many:,} synthetic stored results")
    return bench.launcher.child(
        "prepare_many",
        {
            "work": str(bench.work),
            "sample": str(bench.sample),
            "part": bench.first_part(),
            "timeout_s": bench.o.task_timeout,
            "many": bench.o.many,
            "results": str(bench.work / "results-many"),
            "results_big": str(bench.work / "results-many-10x"),
            "parts_many": str(bench.work / "parts-many"),
            "home": str(bench.many_home),
        },
    )


def aggregate_many(bench: Bench) -> dict[str, list[dict[str, Any]]]:
    o = bench.o
    print(f"4. aggregate over {o.many:,} partitions")
    return {
        variant: [
            bench.launcher.child(
                "aggregate",
                {
                    "home": str(bench.many_home),
                    # A part file per partition: the aggregate leaves out results without one.
                    "parts_dir": str(bench.work / "parts-many"),
                    "results": str(bench.work / results),
                    "expect_parts": o.many,
                },
                f"{variant}-r{r}",
            )
            for r in range(o.repeats)
        ]
        for variant, results in (("1x", "results-many"), ("10x", "results-many-10x"))
    }


def definitions(bench: Bench) -> dict[str, Any]:
    print(f"5. definitions load with {bench.o.many:,} partitions")
    env = clean_env(
        DAGSTER_HOME=str(bench.many_home),
        TRADING_RUNTIME_PARTS_DIR=str(bench.parts_dir),
        TRADING_RUNTIME_RESULTS=str(bench.work / "results-many"),
        PYTHONWARNINGS="ignore",
    )
    return measure_definitions(bench.launcher, env, bench.o.repeats)
