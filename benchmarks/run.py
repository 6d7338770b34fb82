"""Benchmark: the engine floor against Dagster orchestration, in one command.

Run from the repository root::

    .venv/bin/python -m benchmarks.run --parts 100 --events 100000 --repeats 3
    .venv/bin/python -m benchmarks.run --quick          # smoke run: 4 parts x 20,000 events

The full run writes ``benchmarks/results.md`` (``--output`` to change; ``--quick`` writes no file
unless ``--output`` is given) and prints the same report. Text below the line
``<!-- analysis (kept across runs) -->`` in an existing results file is kept.

Data
    N + 10 % parts of M events from the project's generator (``trading_runtime.data.generate``,
    seeded), plus one large part (``--large-events``, default 1.1 M) for engine throughput. Parts
    are cached by spec under ``--cache-dir`` (default ``$TMPDIR/trading-runtime-bench``) and
    reused by later runs. The port runs once over all of them (``screen``): parts it fails on are
    listed in the report and left out, and the first N that succeed (symlinked) are the
    benchmark's parts, since a single-run backfill fails whole on one failed part. Everything
    else (results, Dagster instances, 10,000 synthetic results) lives in a temporary work
    directory that is removed at the end (``--keep-work`` keeps it).

Isolation
    Every scenario runs in a fresh child process of this script (``--child``; killed with its
    process group past ``--child-timeout``), so "cold" really means a fresh process: Python and
    Dagster imports, engine workers spawned, numba compiling the strategy once per worker. Each
    child reports its own peak RSS (``RUSAGE_SELF``) and that of its largest finished descendant
    (``RUSAGE_CHILDREN``: the engine workers, reaped when the pool closes). ``--repeats R`` runs R
    children per scenario; tables show the median and min-max over them.

Scenarios
    1. floor: ``run_backtests(config, tasks, timeout_s, workers=W)`` with the packaged hftbacktest
       example config, no Dagster. *cold* = the first call in a fresh process (pool spawn, worker
       imports, numba compile once per worker, then all N parts); *warm* = a second call on the
       same, already compiled pool. W = cores and W = 1.
    2. single-run backfill: job ``backtest_parts`` executed in process with the partition-range
       tags over a fresh ``DAGSTER_HOME`` holding the N dynamic partitions, as ``trading-runtime
       materialize --single-run`` does (``RuntimeSettings(parts_dir, results, workers)`` and
       ``build_definitions``). Timed: ``execute_in_process`` only (definitions, instance and
       partition registration are reported separately). *cold* = first run in the process, *warm*
       = a second run over a new instance and results directory (same warm engine pool). The step
       breakdown comes from the run's event log. Then the ``aggregate`` job over the N results.
       Overhead per partition = (backfill - floor) / N, cold against cold and warm against warm.
    3. per-partition runs: (a) N runs of one partition in one process (``execute_in_process`` per
       partition, as ``trading-runtime materialize`` does; the first is cold); (b) a sample of
       fresh processes ``dagster asset materialize --select backtest_results --partition KEY -m
       trading_runtime.definitions``. The backtest's ``wall_time_s`` (result metadata) is measured
       inside the engine worker and already includes the numba compile of a fresh worker, so
       orchestration = run wall - wall_time_s, and compile = wall_time_s - the warm per-part time
       of the floor. (b) is split further with the event-log timestamps: before the run starts
       (interpreter, imports, loading definitions), inside the run, after it ends.
    4. aggregate: over the N results after each backfill, and over ``--many`` (10,000) results
       synthesized cheaply: one real result directory is copied into ``--many`` partition
       directories (``curve.parquet`` and ``stats.npz`` hard-linked, ``result.json`` rewritten with
       its partition's ``part``), the partitions are registered with one
       ``add_dynamic_partitions`` call and each gets a materialization event through
       ``instance.report_runless_asset_event`` (what a backfill would have left in the event log;
       the aggregate itself does not need them: with >= 100 upstream partitions Dagster reads one
       latest record for data versions, and the IO manager lists result directories). The
       ``aggregate`` job is timed in a fresh process, with its RSS high-water mark before and after
       the run, and again over the same results with curves (and records) 10x longer.
    5. definitions load with ``--many`` partitions registered, in fresh processes: ``python -c``
       importing ``trading_runtime.definitions`` and building what a code server serves
       (``defs.get_repository_def()``, ``RepositorySnap.from_def``) plus the partition keys the UI
       reads (``get_dynamic_partitions``, ``get_materialized_partitions``); and ``dagster
       definitions validate -m trading_runtime.definitions`` (loads the workspace like ``dagster
       dev``). Import costs of the pieces are timed alone as context.
    6. engine throughput on the large part in one process after warm-up (per core): hftbacktest
       replaying the whole part with the config's ``interval_ns`` and recording (no orders), and
       the configured market maker through the adapter (``run_inline``), with the share of the part
       it consumed. Also a per-part time breakdown of the port's worker task on one standard part.

``--profile`` (default on) adds one cProfile'd warm single-run backfill and one warm per-partition
run (extra runs, not in the timings) and lists their top functions.

Targets (2 cores): backfill <= 1.15 x floor and >= 1.8 x faster with W = cores than W = 1;
orchestration per partition in a backfill <= 0.1 s; numba compiled at most once per worker;
aggregate over 10,000 partitions <= 10 s with memory flat in curve rows; definitions load with
10,000 partitions <= 3 s; one-partition CLI/UI run <= 2.5 s of orchestration; engine >= 2 M
events/s per core.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# Only the standard library at module level: engine workers are spawned processes that import
# this module as ``__mp_main__``; heavy imports here would inflate their start-up.

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path(__file__).resolve().with_name("results.md")
ANALYSIS_MARKER = "<!-- analysis (kept across runs) -->"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
PARTITIONS_NAME = "parts"
# A backtest slower than this (and than 10x the fastest one) paid a numba compile (~7 s here;
# a warm backtest of a part takes tens of milliseconds).
COMPILE_THRESHOLD_S = 1.0
DAGSTER_YAML = ""  # what `make run` creates (`touch dagster.yaml`): the defaults


class BenchmarkError(RuntimeError):
    """A scenario failed; the message says which and where its log is."""


# --------------------------------------------------------------------------- small helpers


def median_min_max(values: Sequence[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return statistics.median(values), min(values), max(values)


def memory_mb() -> dict[str, float]:
    """Peak RSS of this process and of its largest reaped descendant; current RSS and VmHWM."""
    status: dict[str, float] = {}
    with contextlib.suppress(OSError), open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                status[key] = float(value.split()[0]) / 1024
    return {
        "self_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rss_mb": status.get("VmRSS", float("nan")),
        "hwm_mb": status.get("VmHWM", float("nan")),
    }


def reset_hwm() -> bool:
    """Reset this process's VmHWM (Linux: write 5 to clear_refs); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds() -> tuple[float, float]:
    """Machine-wide busy and steal CPU seconds since boot (first line of /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) / tick for v in fields[:8])
    return user + nice + system + irq + softirq, steal


def reaped_cpu_seconds() -> float:
    """CPU seconds of this process's reaped descendants (children, their workers, ...)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_idle(limit_s: float, busy_cores: float = 0.3) -> float:
    """Wait (at most ``limit_s``) for two consecutive seconds with less than ``busy_cores`` of
    CPU in use machine-wide; the seconds waited."""
    started = time.perf_counter()
    calm = 0
    previous = cpu_seconds()[0]
    while time.perf_counter() - started < limit_s and calm < 2:
        time.sleep(1.0)
        current = cpu_seconds()[0]
        calm = calm + 1 if current - previous < busy_cores else 0
        previous = current
    return time.perf_counter() - started


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without trading-runtime or Dagster settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADING_RUNTIME_") and k != "DAGSTER_HOME"
    }
    env.update(extra)
    return env


def run_logged(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    log_path: Path,
    stdout_path: Path | None = None,
) -> float:
    """Run a command in its own process group (killed whole past ``timeout``); its wall time."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab"))
        out = stack.enter_context(open(stdout_path, "wb")) if stdout_path else log
        process = subprocess.Popen(
            list(command), stdout=out, stderr=log, env=env, cwd=cwd, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    elapsed = time.perf_counter() - started
    if code != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise BenchmarkError(f"{' '.join(command)} exited {code} (log {log_path}):\n{tail}")
    return elapsed


# --------------------------------------------------------------------------- Dagster helpers
# (used in child processes only; imports stay inside the functions)


def fresh_instance(home: Path) -> Any:
    """A new Dagster instance at ``home`` (DAGSTER_HOME set, as the CLI does)."""
    from dagster import DagsterInstance

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def run_breakdown(instance: Any, run_id: str) -> dict[str, Any]:
    """Step durations and the run's span from its event log (wall-clock timestamps)."""
    from dagster import DagsterEventType

    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    run_start = run_end = None
    logs = instance.all_logs(run_id)
    for entry in logs:
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            run_start = entry.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = entry.timestamp
        elif kind == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = entry.timestamp - starts.get(event.step_key, entry.timestamp)
    return {
        "run_start": run_start,
        "run_end": run_end,
        "run_s": (run_end - run_start) if run_start and run_end else None,
        "steps": steps,
        "n_events": len(logs),
    }


def materialization_walls(result: Any) -> dict[str, float]:
    """Per-partition backtest wall_time_s from a run's backtest_results materializations."""
    walls = {}
    for materialization in result.asset_materializations_for_node("backtest_results"):
        value = materialization.metadata.get("wall_time_s")
        if value is not None:
            walls[str(materialization.partition)] = float(value.value)
    return walls


def failure_text(result: Any) -> str:
    lines = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            data = event.step_failure_data
            description = data.user_failure_data.description if data.user_failure_data else ""
            lines.append(f"{event.step_key}: {description or (data.error and data.error.message)}")
    return "\n".join(lines) or "run failed"


def range_tags(keys: Sequence[str]) -> dict[str, str]:
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}


def close_engine_pools() -> None:
    """Stop the process's warm pools so their workers are reaped (and in RUSAGE_CHILDREN)."""
    from trading_runtime import backtest

    backtest._close_pools()


# Where a run's time goes: (label, file name contains, function name contains).
HOTSPOTS = (
    ("run creation: create_run_for_job (run + snapshots)", "run_domain.py", "create_run_for_job"),
    ("event-log writes: SqliteEventLogStorage.store_event", "sqlite_event_log.py", "store_event"),
    ("  of which SQLite connections opened (_connect)", "sqlite_event_log.py", "_connect"),
    ("asset `parts` (body)", "defs/assets.py", "parts"),
    ("  BacktestEngine.validate_parts (on the engine pool)", "defs/resources.py",
     "validate_parts"),
    ("asset `backtest_results` (body)", "defs/assets.py", "backtest_results"),
    ("  run_backtests (submit + wait for the engine pool)", "trading_runtime/backtest.py",
     "run_backtests"),
    ("  context.add_asset_metadata", "context/system.py", "add_asset_metadata"),
    ("IO manager: BacktestResultsIOManager.handle_output", "defs/io_managers.py", "handle_output"),
    ("  publish_directory (rename into place)", "trading_runtime/storage.py", "publish_directory"),
    ("check `part_file_is_valid` (body)", "defs/checks.py", "part_file_is_valid"),
    ("check `result_is_deterministic` (body)", "defs/checks.py", "result_is_deterministic"),
    ("  checks: _recent_metadata (fetch_materializations)", "defs/checks.py", "_recent_metadata"),
    ("validate_part (in this process)", "data/validate.py", "validate_part"),
    ("sha256_file (in this process)", "data/validate.py", "sha256_file"),
    ("subprocesses started (fork_exec)", "~", "fork_exec"),
    ("time.sleep", "~", "time.sleep"),
    ("waiting on locks (futures, pebble threads)", "~", "acquire' of '_thread.lock"),
)  # fmt: skip


def hotspots(stats: Any) -> list[tuple[str, int, float, float]]:
    """(label, calls, cumulative s, own s) for the HOTSPOTS found in a pstats.Stats."""
    rows = []
    for label, file_part, func_part in HOTSPOTS:
        calls, cumulative, own = 0, 0.0, 0.0
        for (filename, _, funcname), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
            if file_part in filename and func_part in funcname:
                calls, cumulative, own = calls + ncalls, cumulative + cumtime, own + tottime
        if calls:
            rows.append((label, calls, cumulative, own))
    return rows


def profile_call(function: Callable[[], Any], top: int = 25) -> tuple[Any, dict[str, Any]]:
    """Run ``function`` under cProfile: its result, the hotspots and the top functions."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(function)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    text.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return result, {"hotspots": hotspots(stats), "text": text.getvalue()}


def compile_count(walls: Sequence[float]) -> int:
    """How many backtests paid a numba compile (far slower than the rest)."""
    if not walls:
        return 0
    fastest = min(walls)
    return sum(1 for w in walls if w > max(COMPILE_THRESHOLD_S, 10 * fastest))


# --------------------------------------------------------------------------- child scenarios

Spec = dict[str, Any]


def child_generate(spec: Spec) -> dict[str, Any]:
    """Generate parts for a spec into a cache directory (atomically); reuse a complete one."""
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    target = Path(spec["target"])
    gen_spec = GeneratorSpec(parts=spec["parts"], events=spec["events"], seed=spec["seed"])
    marker = target / ".spec.json"
    wanted = json.dumps(asdict(gen_spec), sort_keys=True)
    if marker.is_file() and marker.read_text() == wanted:
        return {"generated": False, "seconds": 0.0}
    scratch = Path(tempfile.mkdtemp(prefix=".generating-", dir=target.parent))
    started = time.perf_counter()
    generate_parts(gen_spec, scratch)
    elapsed = time.perf_counter() - started
    (scratch / ".spec.json").write_text(wanted)
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    return {"generated": True, "seconds": elapsed}


def child_screen(spec: Spec) -> dict[str, Any]:
    """Run the port once over the generated parts; link the first ``wanted`` that succeed into
    ``target`` (the benchmark's parts directory) and report the ones that fail."""
    from trading_runtime.backtest import run_backtests
    from trading_runtime.config import example_config_path, load_config

    config = load_config(example_config_path("hftbacktest"))
    source, target, work = Path(spec["source"]), Path(spec["target"]), Path(spec["work"])
    tasks = _part_tasks(source, work / "screen")
    outcomes = run_backtests(config, tasks, spec["timeout_s"], workers=spec["workers"])
    close_engine_pools()
    shutil.rmtree(work / "screen", ignore_errors=True)
    failed = {
        k: f"{type(v).__name__}: {v}" for k, v in outcomes.items() if isinstance(v, Exception)
    }
    selected = [t for t in tasks if t.partition not in failed][: spec["wanted"]]
    if len(selected) < spec["wanted"]:
        raise BenchmarkError(f"only {len(selected)} of {len(tasks)} parts backtest: {failed}")
    target.mkdir(parents=True)
    for task in selected:
        (target / task.part_path.name).symlink_to(task.part_path)
    return {"failed": failed, "selected": [t.partition for t in selected], "screened": len(tasks)}


def _part_tasks(parts_dir: Path, out: Path) -> list[Any]:
    from trading_runtime.backtest import BacktestTask

    return [BacktestTask(p.stem, p, out / p.stem) for p in sorted(parts_dir.glob("*.npz"))]


def _coverage(result_dir: Path, part: Path) -> float:
    """Share of the part's time span the backtest got through (last curve timestamp)."""
    import numpy as np
    import pyarrow.parquet as pq

    timestamps = pq.read_table(result_dir / "curve.parquet", columns=["timestamp"])["timestamp"]
    with np.load(part) as archive:
        local = archive["data"]["local_ts"]
    first, last = int(local.min()), int(local.max())
    if len(timestamps) == 0 or last <= first:
        return 0.0
    return min(1.0, (int(timestamps[-1].as_py()) - first) / (last - first))


def child_floor(spec: Spec) -> dict[str, Any]:
    """The engine port alone: run_backtests cold (fresh process) then warm (same pool)."""
    from trading_runtime.backtest import BacktestResult, run_backtests
    from trading_runtime.config import example_config_path, load_config

    config = load_config(example_config_path("hftbacktest"))
    parts_dir, work = Path(spec["parts_dir"]), Path(spec["work"])
    runs = []
    coverage: list[float] = []
    for label in ("cold", "warm"):
        out = work / f"floor-{label}"
        tasks = _part_tasks(parts_dir, out)
        started = time.perf_counter()
        outcomes = run_backtests(config, tasks, spec["timeout_s"], workers=spec["workers"])
        elapsed = time.perf_counter() - started
        failed = {k: str(v) for k, v in outcomes.items() if isinstance(v, Exception)}
        if failed:
            raise BenchmarkError(f"floor backtests failed: {failed}")
        results = [v for v in outcomes.values() if isinstance(v, BacktestResult)]
        walls = [r.wall_time_s for r in results]
        runs.append(
            {
                "label": label,
                "seconds": elapsed,
                "walls": walls,
                "compiles": compile_count(walls),
                "records": [r.metrics.get("records") for r in results],
                "trades": [r.metrics.get("trades") for r in results],
            }
        )
        if label == "warm":
            coverage = [_coverage(out / t.partition, t.part_path) for t in tasks]
        keep = spec.get("keep_sample")
        if keep and label == "cold" and not Path(keep).exists():
            shutil.copytree(out / tasks[0].partition, keep)
        shutil.rmtree(out, ignore_errors=True)
    close_engine_pools()
    return {"runs": runs, "coverage": coverage, "memory": memory_mb()}


def _backfill_once(spec: Spec, label: str, aggregate: bool) -> dict[str, Any]:
    from trading_runtime.defs import build_definitions
    from trading_runtime.settings import RuntimeSettings

    work, keys = Path(spec["work"]), list(spec["keys"])
    instance = fresh_instance(work / f"home-{label}")
    results = work / f"results-{label}"
    settings = RuntimeSettings(
        parts_dir=spec["parts_dir"],
        results=str(results),
        workers=spec["workers"],
        timeout_s=spec["timeout_s"],
    )
    started = time.perf_counter()
    defs = build_definitions(settings)
    job = defs.resolve_job_def("backtest_parts")
    defs_s = time.perf_counter() - started
    started = time.perf_counter()
    instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
    register_s = time.perf_counter() - started

    def backfill() -> Any:
        return job.execute_in_process(
            instance=instance,
            tags=range_tags(keys),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )

    profile_text: dict[str, Any] | None = None
    started = time.perf_counter()
    if spec.get("profile_this"):
        result, profile_text = profile_call(backfill)
    else:
        result = backfill()
    elapsed = time.perf_counter() - started
    if not result.success:
        raise BenchmarkError(f"backfill {label} failed: {failure_text(result)}")
    walls = materialization_walls(result)
    if sorted(walls) != sorted(keys):
        raise BenchmarkError(f"backfill {label}: {len(walls)} of {len(keys)} partitions stored")
    record: dict[str, Any] = {
        "label": label,
        "seconds": elapsed,
        "defs_s": defs_s,
        "register_s": register_s,
        "breakdown": run_breakdown(instance, result.run_id),
        "walls": list(walls.values()),
        "compiles": compile_count(list(walls.values())),
        "profile": profile_text,
    }
    if aggregate:
        started = time.perf_counter()
        agg = defs.resolve_job_def("aggregate").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
        )
        record["aggregate_s"] = time.perf_counter() - started
        if not agg.success:
            raise BenchmarkError(f"aggregate after backfill {label}: {failure_text(agg)}")
        parts = agg.asset_materializations_for_node("aggregate_metrics")[0].metadata["parts"]
        if parts.value != len(keys):
            raise BenchmarkError(f"aggregate saw {parts.value} parts, expected {len(keys)}")
        record["aggregate_breakdown"] = run_breakdown(instance, agg.run_id)
    instance.dispose()
    shutil.rmtree(results, ignore_errors=True)
    return record


def child_backfill(spec: Spec) -> dict[str, Any]:
    """Single-run backfill: cold (first in the process), warm (new instance, warm pool)."""
    if spec.get("profile_cold_only"):
        run = _backfill_once({**spec, "profile_this": True}, "profiled-cold", False)
        close_engine_pools()
        return {"runs": [run], "memory": memory_mb()}
    runs = [
        _backfill_once({**spec, "profile_this": False}, "cold", spec["aggregate"]),
        _backfill_once({**spec, "profile_this": False}, "warm", spec["aggregate"]),
    ]
    if spec.get("profile"):
        runs.append(_backfill_once({**spec, "profile_this": True}, "profiled", False))
    close_engine_pools()
    return {"runs": runs, "memory": memory_mb()}


def child_perpart(spec: Spec) -> dict[str, Any]:
    """N runs of one partition each in one process, as `trading-runtime materialize` does."""
    from trading_runtime.defs import build_definitions
    from trading_runtime.settings import RuntimeSettings

    work, keys = Path(spec["work"]), list(spec["keys"])
    instance = fresh_instance(work / "home-perpart")
    settings = RuntimeSettings(
        parts_dir=spec["parts_dir"],
        results=str(work / "results-perpart"),
        workers=spec["workers"],
        timeout_s=spec["timeout_s"],
    )
    defs = build_definitions(settings)
    instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
    job = defs.resolve_job_def("backtest_parts")

    def one(key: str) -> Any:
        return job.execute_in_process(
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )

    runs = []
    for key in keys:
        started = time.perf_counter()
        result = one(key)
        elapsed = time.perf_counter() - started
        if not result.success:
            raise BenchmarkError(f"partition {key} failed: {failure_text(result)}")
        wall = materialization_walls(result)[key]
        breakdown = run_breakdown(instance, result.run_id)
        runs.append({"key": key, "seconds": elapsed, "wall": wall, "breakdown": breakdown})
    profile_text: dict[str, Any] | None = None
    if spec.get("profile"):
        result, profile_text = profile_call(lambda: one(keys[0]))
    instance.dispose()
    close_engine_pools()
    shutil.rmtree(work / "results-perpart", ignore_errors=True)
    return {"runs": runs, "profile": profile_text, "memory": memory_mb()}


def child_cli(spec: Spec) -> dict[str, Any]:
    """Fresh `dagster asset materialize` processes, one partition each."""
    from dagster import AssetKey, AssetRecordsFilter

    work, keys = Path(spec["work"]), list(spec["keys"])
    home = work / "home-cli"
    instance = fresh_instance(home)
    instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
    instance.dispose()
    env = clean_env(
        DAGSTER_HOME=str(home),
        TRADING_RUNTIME_PARTS_DIR=spec["parts_dir"],
        TRADING_RUNTIME_RESULTS=str(work / "results-cli"),
        TRADING_RUNTIME_WORKERS=str(spec["workers"]),
        TRADING_RUNTIME_TIMEOUT_S=str(spec["timeout_s"]),
    )
    dagster = str(Path(sys.executable).with_name("dagster"))
    launches = []
    for key in spec["sample_keys"]:
        command = [dagster, "asset", "materialize", "--select", "backtest_results"]
        command += ["--partition", key, "-m", "trading_runtime.definitions"]
        launched = time.time()
        elapsed = run_logged(
            command, env=env, cwd=work, timeout=spec["timeout_s"], log_path=work / "cli.log"
        )
        launches.append({"key": key, "seconds": elapsed, "launched": launched})
    instance = fresh_instance(home)
    runs = []
    for launch in launches:
        records = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey("backtest_results"), asset_partitions=[launch["key"]]
            ),
            limit=1,
        ).records
        if not records:
            raise BenchmarkError(f"no materialization of {launch['key']} after the CLI run")
        record = records[0]
        metadata = record.asset_materialization.metadata
        breakdown = run_breakdown(instance, record.run_id)
        runs.append({**launch, "wall": float(metadata["wall_time_s"].value), **breakdown})
    instance.dispose()
    return {"runs": runs, "memory": memory_mb()}


def child_prepare_many(spec: Spec) -> dict[str, Any]:
    """``many`` stored results (1x and 10x curves) and an instance with them registered."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dagster import AssetMaterialization

    from trading_runtime.backtest import run_backtest
    from trading_runtime.config import example_config_path, load_config
    from trading_runtime.data.npz import write_npz_deterministic

    work = Path(spec["work"])
    sample = Path(spec["sample"])
    timings: dict[str, float] = {}
    if not (sample / "result.json").is_file():  # no floor run kept one: make one
        started = time.perf_counter()
        config = load_config(example_config_path("hftbacktest"))
        run_backtest(config, Path(spec["part"]), sample, spec["timeout_s"])
        close_engine_pools()
        timings["sample_backtest_s"] = time.perf_counter() - started
    big = work / "sample-10x"
    big.mkdir(exist_ok=True)
    curve = pq.read_table(sample / "curve.parquet")
    pq.write_table(
        pa.concat_tables([curve] * 10),
        big / "curve.parquet",
        compression="zstd",
        use_dictionary=False,
        write_statistics=True,
    )
    with np.load(sample / "stats.npz") as archive:
        record = archive["0"]
    write_npz_deterministic(big / "stats.npz", {"0": np.concatenate([record] * 10)})
    document = json.loads((sample / "result.json").read_text())
    width = max(5, len(str(spec["many"] - 1)))
    keys = [f"part-{i:0{width}d}" for i in range(spec["many"])]
    started = time.perf_counter()
    for base, source in ((Path(spec["results"]), sample), (Path(spec["results_big"]), big)):
        root = base / "backtest_results"
        for key in keys:
            target = root / key
            target.mkdir(parents=True)
            for name in ("curve.parquet", "stats.npz"):
                os.link(source / name, target / name)
            document["provenance"]["part"] = key
            (target / "result.json").write_text(json.dumps(document, sort_keys=True, indent=1))
    timings["write_results_s"] = time.perf_counter() - started
    instance = fresh_instance(Path(spec["home"]))
    started = time.perf_counter()
    instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
    timings["register_partitions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    metadata = {
        "content_hash": document["provenance"]["content_hash"],
        "wall_time_s": 0.04,
        "pnl": document["metrics"]["pnl"],
    }
    for key in keys:
        instance.report_runless_asset_event(
            AssetMaterialization("backtest_results", partition=key, metadata=metadata)
        )
    timings["materialization_events_s"] = time.perf_counter() - started
    instance.dispose()
    return {
        "timings": timings,
        "curve_rows": [curve.num_rows, curve.num_rows * 10],
        "curve_bytes": [
            (sample / "curve.parquet").stat().st_size,
            (big / "curve.parquet").stat().st_size,
        ],
        "memory": memory_mb(),
    }


def child_aggregate(spec: Spec) -> dict[str, Any]:
    """The aggregate job over stored results, in a fresh process; time and RSS high-water."""
    import tracemalloc

    from dagster import DagsterInstance

    from trading_runtime.defs import build_definitions
    from trading_runtime.settings import RuntimeSettings

    os.environ["DAGSTER_HOME"] = spec["home"]
    instance = DagsterInstance.get()
    settings = RuntimeSettings(parts_dir=spec["parts_dir"], results=spec["results"])
    defs = build_definitions(settings)
    job = defs.resolve_job_def("aggregate")

    def aggregate() -> Any:
        return job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_RUN_CONFIG
        )

    hwm_reset = reset_hwm()
    before = memory_mb()
    started = time.perf_counter()
    result = aggregate()
    elapsed = time.perf_counter() - started
    after = memory_mb()
    if not result.success:
        raise BenchmarkError(f"aggregate failed: {failure_text(result)}")
    parts = result.asset_materializations_for_node("aggregate_metrics")[0].metadata["parts"]
    if parts.value != spec["expect_parts"]:
        raise BenchmarkError(f"aggregate saw {parts.value} parts, expected {spec['expect_parts']}")
    breakdown = run_breakdown(instance, result.run_id)
    # A second run under tracemalloc: the Python heap's peak during the aggregate.
    tracemalloc.start()
    aggregate()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    instance.dispose()
    return {
        "seconds": elapsed,
        "breakdown": breakdown,
        "rss_before_mb": before["rss_mb"],
        "hwm_before_mb": before["hwm_mb"],
        "hwm_after_mb": after["hwm_mb"],
        "hwm_reset": hwm_reset,
        "peak_delta_mb": after["hwm_mb"] - before["rss_mb"],
        "traced_peak_mb": traced_peak / 2**20,
        "memory": memory_mb(),
    }


_REPLAY: Any = None


def _replay_function() -> Any:
    """A numba loop that replays a whole part at a fixed interval, recording (no orders)."""
    global _REPLAY
    if _REPLAY is None:
        from numba import njit

        @njit
        def replay(hbt: Any, recorder: Any, interval_ns: int) -> int:
            steps = 0
            while hbt.elapse(interval_ns) == 0:
                recorder.record(hbt)
                steps += 1
            return steps

        _REPLAY = replay
    return _REPLAY


def child_engine(spec: Spec) -> dict[str, Any]:
    """Engine throughput per core (one process, after warm-up) and the worker task's parts."""
    import numpy as np
    import pyarrow.parquet as pq
    from hftbacktest import Recorder, ROIVectorMarketDepthBacktest

    from trading_runtime.backtest import RESULT_FILE
    from trading_runtime.config import example_config_path, load_config
    from trading_runtime.data.validate import check_events, load_part_events, sha256_file
    from trading_runtime.engines import get_adapter
    from trading_runtime.engines.hftbacktest_engine import build_asset
    from trading_runtime.metrics import compute_metrics, curve_from_record

    config = load_config(example_config_path("hftbacktest"))
    adapter = get_adapter(config.adapter)
    interval = int(dict(config.strategy.params).get("interval_ns", 100_000_000))
    standard, large = Path(spec["standard_part"]), Path(spec["large_part"])
    work = Path(spec["work"]) / "engine"

    def replay(part: Path) -> tuple[float, int]:
        replay_fn = _replay_function()
        started = time.perf_counter()
        hbt = ROIVectorMarketDepthBacktest([build_asset(config.engine, str(part))])
        recorder = Recorder(1, config.engine.max_steps)
        steps = replay_fn(hbt, recorder.recorder, interval)
        hbt.close()
        return time.perf_counter() - started, int(steps)

    def port_pieces(part: Path) -> dict[str, float]:
        """The worker task's pieces, timed one by one (as execute_backtest runs them)."""
        from trading_runtime.data.validate import validate_part

        out = work / f"pieces-{time.perf_counter_ns()}"
        out.mkdir(parents=True)
        pieces: dict[str, float] = {}
        t0 = time.perf_counter()
        data = load_part_events(part)
        t1 = time.perf_counter()
        check_events(part, data)
        t2 = time.perf_counter()
        sha256_file(part)
        t3 = time.perf_counter()
        info = validate_part(part)
        t4 = time.perf_counter()
        output = adapter.run_inline(config, info, out)
        t5 = time.perf_counter()
        with np.load(output.stats_path) as archive:
            record = archive["0"]
        table = curve_from_record(record, config.engine.contract_size)
        pq.write_table(
            table,
            out / "curve.parquet",
            compression="zstd",
            use_dictionary=False,
            write_statistics=True,
        )
        t6 = time.perf_counter()
        compute_metrics(record, config.engine.contract_size, 200_000.0)
        t7 = time.perf_counter()
        for path in sorted(out.iterdir()):
            if path.name != RESULT_FILE:
                sha256_file(path)
        t8 = time.perf_counter()
        pieces.update(
            {
                "load_npz": t1 - t0,
                "check_events": t2 - t1,
                "sha256_part": t3 - t2,
                "validate_part (all three)": t4 - t3,
                "engine run_inline": t5 - t4,
                "curve -> parquet": t6 - t5,
                "metrics (hftbacktest.stats)": t7 - t6,
                "hash result files": t8 - t7,
            }
        )
        shutil.rmtree(out, ignore_errors=True)
        return pieces

    def market_maker(part: Path) -> tuple[float, float]:
        out = work / f"mm-{time.perf_counter_ns()}"
        out.mkdir(parents=True)
        from trading_runtime.data.validate import validate_part

        info = validate_part(part)
        started = time.perf_counter()
        adapter.run_inline(config, info, out)
        elapsed = time.perf_counter() - started
        with np.load(out / "stats.npz") as archive:
            record = archive["0"]
        shutil.rmtree(out, ignore_errors=True)
        span = info.last_local_ts - info.first_local_ts
        reached = int(record["timestamp"][-1]) - info.first_local_ts if len(record) else 0
        return elapsed, max(0.0, min(1.0, reached / span)) if span > 0 else 0.0

    n_large = len(load_part_events(large))
    compile_started = time.perf_counter()
    replay(standard)
    market_maker(standard)
    compile_s = time.perf_counter() - compile_started
    replay_runs = [replay(large) for _ in range(spec["repeats"])]
    mm_runs = [market_maker(large) for _ in range(spec["repeats"])]
    pieces = [port_pieces(standard) for _ in range(max(3, spec["repeats"]))]
    return {
        "events": n_large,
        "compile_s": compile_s,
        "replay_s": [r[0] for r in replay_runs],
        "replay_steps": replay_runs[0][1],
        "mm_s": [r[0] for r in mm_runs],
        "mm_coverage": mm_runs[0][1],
        "pieces": {k: statistics.median(p[k] for p in pieces) for k in pieces[0]},
        "memory": memory_mb(),
    }


CHILDREN: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "generate": child_generate,
    "screen": child_screen,
    "floor": child_floor,
    "backfill": child_backfill,
    "perpart": child_perpart,
    "cli": child_cli,
    "prepare_many": child_prepare_many,
    "aggregate": child_aggregate,
    "engine": child_engine,
}


def child_main(scenario: str, spec_path: Path, out_path: Path) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    spec = json.loads(spec_path.read_text())
    result = CHILDREN[scenario](spec)
    result.setdefault("memory", memory_mb())
    out_path.write_text(json.dumps(result))


# --------------------------------------------------------------------------- parent side


@dataclass
class Options:
    parts: int
    events: int
    repeats: int
    workers: int
    seed: int
    many: int
    cli_sample: int
    large_events: int
    cache_dir: Path
    output: Path | None
    child_timeout: float
    task_timeout: float
    wait_idle: float
    profile: bool
    only: set[str]
    keep_work: bool
    quick: bool
    command: str


SCENARIOS = ("floor", "backfill", "perpart", "cli", "aggregate", "defs", "engine")


class Runner:
    """Launches child scenarios and commands; records the CPU contention around each."""

    def __init__(self, options: Options, work: Path) -> None:
        self.options = options
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.contention: list[dict[str, Any]] = []

    def run(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        cwd: Path,
        stdout_path: Path | None = None,
    ) -> float:
        """Wait for a quiet machine (``--wait-idle``), run, and record how much CPU other
        processes used meanwhile (machine busy time - what this command and its descendants
        used), in cores."""
        waited = wait_for_idle(self.options.wait_idle) if self.options.wait_idle > 0 else 0.0
        busy0, steal0 = cpu_seconds()
        own0 = reaped_cpu_seconds()
        load = os.getloadavg()[0]
        elapsed = run_logged(
            command,
            env=env,
            cwd=cwd,
            timeout=self.options.child_timeout,
            log_path=self.logs / f"{name}.log",
            stdout_path=stdout_path,
        )
        busy1, steal1 = cpu_seconds()
        own = reaped_cpu_seconds() - own0
        self.contention.append(
            {
                "name": name,
                "seconds": elapsed,
                "waited_s": waited,
                "load1": load,
                "own_cores": own / elapsed,
                "other_cores": max(0.0, (busy1 - busy0 - own) / elapsed),
                "steal_cores": (steal1 - steal0) / elapsed,
            }
        )
        return elapsed

    def child(self, scenario: str, spec: Spec, label: str = "") -> dict[str, Any]:
        self.count += 1
        name = f"{self.count:02d}-{scenario}{'-' + label if label else ''}"
        spec_path = self.logs / f"{name}.spec.json"
        out_path = self.logs / f"{name}.out.json"
        spec_path.write_text(json.dumps(spec))
        print(f"  [{name}] ...", end="", flush=True)
        command = [sys.executable, "-m", "benchmarks.run", "--child", scenario]
        command += ["--child-spec", str(spec_path), "--child-out", str(out_path)]
        elapsed = self.run(name, command, clean_env(PYTHONWARNINGS="ignore"), REPO_ROOT)
        other = self.contention[-1]["other_cores"]
        print(f" {elapsed:.1f} s (other processes: {other:.2f} cores)", flush=True)
        result: dict[str, Any] = json.loads(out_path.read_text())
        result["child_wall_s"] = elapsed
        return result

    def command(self, command: Sequence[str], env: dict[str, str], label: str) -> float:
        self.count += 1
        return self.run(f"{self.count:02d}-{label}", command, env, self.work)

    def python_c(self, code: str, env: dict[str, str], label: str) -> tuple[float, Any]:
        """Wall time of a fresh ``python -c``; its last stdout line parsed as JSON if any."""
        self.count += 1
        name = f"{self.count:02d}-{label}"
        stdout_path = self.logs / f"{name}.stdout"
        elapsed = self.run(name, [sys.executable, "-c", code], env, self.work, stdout_path)
        lines = stdout_path.read_text().strip().splitlines()
        parsed = None
        if lines:
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(lines[-1])
        return elapsed, parsed


DEFS_LOAD_CODE = """
import json, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
from trading_runtime.definitions import defs
t1 = time.perf_counter()
repo = defs.get_repository_def()
t2 = time.perf_counter()
from dagster._core.remote_representation.external_data import RepositorySnap
snap = RepositorySnap.from_def(repo)
t3 = time.perf_counter()
from dagster import AssetKey, DagsterInstance
instance = DagsterInstance.get()
keys = instance.get_dynamic_partitions("parts")
materialized = instance.get_materialized_partitions(AssetKey("backtest_results"))
t4 = time.perf_counter()
print(json.dumps({"import_defs_s": t1 - t0, "repository_def_s": t2 - t1,
                  "repository_snap_s": t3 - t2, "ui_partitions_s": t4 - t3,
                  "partitions": len(keys), "materialized": len(materialized)}))
"""

IMPORT_PROBES = {
    "python -c pass": "pass",
    "import dagster": "import dagster",
    "import dagster._cli (dagster CLI)": "import dagster._cli",
    "import trading_runtime.backtest (engine worker)": "import trading_runtime.backtest",
    "import trading_runtime.definitions (code location)": "import trading_runtime.definitions",
}


def ensure_parts(runner: Runner, name: str, parts: int, events: int, seed: int) -> Path:
    target = runner.options.cache_dir / name
    target.parent.mkdir(parents=True, exist_ok=True)
    spec = {"target": str(target), "parts": parts, "events": events, "seed": seed}
    result = runner.child("generate", spec, name)
    if result["generated"]:
        print(f"    generated {parts} x {events:,} events in {result['seconds']:.1f} s -> {target}")
    return target


def run_all(options: Options, work: Path) -> dict[str, Any]:
    runner = Runner(options, work)
    o = options
    data: dict[str, Any] = {"started": dt.datetime.now().isoformat(timespec="seconds")}
    print("data")
    # Spare parts: the ones the runtime fails on are reported and replaced by the next ones.
    generated = o.parts + max(2, o.parts // 10)
    generated_dir = ensure_parts(
        runner, f"parts-{generated}x{o.events}-seed{o.seed}", generated, o.events, o.seed
    )
    parts_dir = work / "parts"
    data["screen"] = runner.child(
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
    keys = sorted(p.stem for p in parts_dir.glob("*.npz"))
    large_dir = None
    if "engine" in o.only:
        large_dir = ensure_parts(runner, f"large-{o.large_events}-seed{o.seed + 1}", 1,
                                 o.large_events, o.seed + 1)  # fmt: skip
    data["parts_dir"] = str(parts_dir)
    data["parts_bytes"] = sum(p.stat().st_size for p in parts_dir.glob("*.npz"))
    sample = work / "sample-result"
    base = {
        "parts_dir": str(parts_dir),
        "work": str(work),
        "timeout_s": o.task_timeout,
        "keys": keys,
    }
    workers_list = sorted({o.workers, 1}, reverse=True)

    if "floor" in o.only:
        print("1. floor (run_backtests, no Dagster)")
        data["floor"] = {
            w: [
                runner.child(
                    "floor", {**base, "workers": w, "keep_sample": str(sample)}, f"w{w}-r{r}"
                )
                for r in range(o.repeats)
            ]
            for w in workers_list
        }
    if "engine" in o.only and large_dir is not None:
        print("6. engine throughput")
        data["engine"] = runner.child(
            "engine",
            {
                "work": str(work),
                "standard_part": str(sorted(parts_dir.glob("*.npz"))[0]),
                "large_part": str(sorted(large_dir.glob("*.npz"))[0]),
                "repeats": max(3, o.repeats),
            },
        )
    if "backfill" in o.only:
        print("2. single-run backfill (+ aggregate over N)")
        data["backfill"] = {}
        for w in workers_list:
            data["backfill"][w] = [
                runner.child(
                    "backfill",
                    {
                        **base,
                        "workers": w,
                        "aggregate": True,
                        "profile": o.profile and w == o.workers and r == 0,
                    },
                    f"w{w}-r{r}",
                )
                for r in range(o.repeats)
            ]
        if o.profile:
            data["backfill"][o.workers].append(
                runner.child(
                    "backfill",
                    {**base, "workers": o.workers, "aggregate": False, "profile_cold_only": True},
                    f"w{o.workers}-profile-cold",
                )
            )
    if "perpart" in o.only:
        print("3a. per-partition runs in one process")
        data["perpart"] = [
            runner.child(
                "perpart", {**base, "workers": o.workers, "profile": o.profile and r == 0}, f"r{r}"
            )
            for r in range(o.repeats)
        ]
    if "cli" in o.only:
        print("3b. per-partition runs in fresh processes (dagster asset materialize)")
        step = max(1, len(keys) // max(1, o.cli_sample))
        sample_keys = keys[::step][: o.cli_sample]
        data["cli"] = runner.child(
            "cli", {**base, "workers": o.workers, "sample_keys": sample_keys}
        )
    many_home = work / "home-many"
    if "aggregate" in o.only or "defs" in o.only:
        print(f"4/5. {o.many:,} synthetic stored results")
        data["prepare_many"] = runner.child(
            "prepare_many",
            {
                "work": str(work),
                "sample": str(sample),
                "part": str(sorted(parts_dir.glob("*.npz"))[0]),
                "timeout_s": o.task_timeout,
                "many": o.many,
                "results": str(work / "results-many"),
                "results_big": str(work / "results-many-10x"),
                "home": str(many_home),
            },
        )
    if "aggregate" in o.only:
        print(f"4. aggregate over {o.many:,} partitions")
        data["aggregate_many"] = {
            variant: [
                runner.child(
                    "aggregate",
                    {
                        "home": str(many_home),
                        "parts_dir": str(parts_dir),
                        "results": str(work / results),
                        "expect_parts": o.many,
                    },
                    f"{variant}-r{r}",
                )
                for r in range(o.repeats)
            ]
            for variant, results in (("1x", "results-many"), ("10x", "results-many-10x"))
        }
    if "defs" in o.only:
        print(f"5. definitions load with {o.many:,} partitions")
        env = clean_env(
            DAGSTER_HOME=str(many_home),
            TRADING_RUNTIME_PARTS_DIR=str(parts_dir),
            TRADING_RUNTIME_RESULTS=str(work / "results-many"),
            PYTHONWARNINGS="ignore",
        )
        loads = [runner.python_c(DEFS_LOAD_CODE, env, "defs-load") for _ in range(o.repeats)]
        dagster = str(Path(sys.executable).with_name("dagster"))
        validate = [dagster, "definitions", "validate", "-m", "trading_runtime.definitions"]
        validates = [runner.command(validate, env, "validate") for _ in range(o.repeats)]
        imports = {
            label: [runner.python_c(code, env, "import")[0] for _ in range(o.repeats)]
            for label, code in IMPORT_PROBES.items()
        }
        data["defs"] = {
            "python_c_s": [elapsed for elapsed, _ in loads],
            "splits": [parsed for _, parsed in loads],
            "validate_s": validates,
            "imports": imports,
        }
    data["contention"] = runner.contention
    data["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    return data


# --------------------------------------------------------------------------- report


def machine_description() -> dict[str, str]:
    cpuinfo: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            cpuinfo.setdefault(key.strip(), value.strip())
    cpu = (
        f"{cpuinfo.get('model name', 'unknown')} (family {cpuinfo.get('cpu family', '?')}, model"
        f" {cpuinfo.get('model', '?')}, {cpuinfo.get('cpu MHz', '?')} MHz"
        + (", virtualized" if "hypervisor" in cpuinfo.get("flags", "").split() else "")
        + ")"
    )
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    versions = {}
    for package in ("dagster", "hftbacktest", "numpy", "numba", "pyarrow", "pebble"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
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
    return {
        "cores": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})",
        "ram": ram,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "git": f"{commit}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else ""),
    }


def fmt(value: float | None, unit: str = "s", digits: int = 3) -> str:
    if value is None or value != value:  # NaN
        return "n/a"
    return f"{value:.{digits}g} {unit}".strip()


def stat_cells(values: Sequence[float], unit: str = "s") -> tuple[str, str, str]:
    med, low, high = median_min_max(values)
    return fmt(med, unit), f"{fmt(low, unit)} - {fmt(high, unit)}", str(len(values))


class Report:
    """Derives ratios and target verdicts from the collected data and renders markdown."""

    def __init__(self, options: Options, data: dict[str, Any]) -> None:
        self.o = options
        self.d = data
        self.rows: list[tuple[str, str, Sequence[float], str]] = []
        self.targets: list[tuple[str, str, str, bool | None]] = []
        self.sections: list[str] = []

    # -- accessors
    def runs(self, kind: str, workers: int, label: str) -> list[dict[str, Any]]:
        children = self.d.get(kind, {}).get(workers, [])
        return [r for child in children for r in child["runs"] if r["label"] == label]

    def seconds(self, kind: str, workers: int, label: str) -> list[float]:
        return [r["seconds"] for r in self.runs(kind, workers, label)]

    def med(self, values: Sequence[float]) -> float:
        return median_min_max(values)[0]

    def step_median(self, runs: Sequence[dict[str, Any]], step: str) -> float:
        return self.med([r["breakdown"]["steps"].get(step, 0.0) for r in runs])

    def warm_task_s(self) -> float:
        walls = [w for r in self.runs("floor", self.o.workers, "warm") for w in r["walls"]]
        return self.med(walls)

    def target(self, name: str, goal: str, measured: str, ok: bool | None) -> None:
        self.targets.append((name, goal, measured, ok))

    # -- sections
    def build(self) -> str:
        n = self.o.parts
        self.d["floor"] = {int(k): v for k, v in self.d.get("floor", {}).items()}
        self.d["backfill"] = {int(k): v for k, v in self.d.get("backfill", {}).items()}
        for workers in sorted(self.d["floor"], reverse=True):
            for label, what in (
                ("cold", "fresh process: pool spawn + worker imports + numba compile per worker"),
                ("warm", "same pool, already compiled"),
            ):
                self.rows.append(
                    (
                        f"1. floor, W={workers}, {label}",
                        f"run_backtests over {n} parts; {what}",
                        self.seconds("floor", workers, label),
                        "s",
                    )
                )
        for workers in sorted(self.d["backfill"], reverse=True):
            for label in ("cold", "warm"):
                self.rows.append(
                    (
                        f"2. single-run backfill, W={workers}, {label}",
                        "execute_in_process of backtest_parts over the range (parts, checks,"
                        " backtest_results)"
                        + ("; first run in the process" if label == "cold" else "; warm pool"),
                        self.seconds("backfill", workers, label),
                        "s",
                    )
                )
        self._perpart_rows()
        self._cli_rows()
        self._aggregate_rows()
        self._defs_rows()
        self._engine_rows()
        self._ratios_and_targets()
        return self.render()

    def _perpart_rows(self) -> None:
        children = self.d.get("perpart", [])
        if not children:
            return
        totals = [sum(r["seconds"] for r in c["runs"]) for c in children]
        first = [c["runs"][0]["seconds"] for c in children]
        warm_runs = [r for c in children for r in c["runs"][1:]]
        per_run = [r["seconds"] for r in warm_runs]
        orchestration = [r["seconds"] - r["wall"] for r in warm_runs]
        self.rows += [
            (
                f"3a. {self.o.parts} per-partition runs, one process",
                "sum of N execute_in_process(partition_key) runs (first cold)",
                totals,
                "s",
            ),
            ("3a. first run (cold)", "includes the 1-worker pool spawn + compile", first, "s"),
            ("3a. one warm run", "per run after the first (all runs pooled)", per_run, "s"),
            ("3a. orchestration per warm run", "run wall - backtest wall_time_s", orchestration,
             "s"),
        ]  # fmt: skip

    def _cli_rows(self) -> None:
        cli = self.d.get("cli")
        if not cli:
            return
        warm = self.warm_task_s()
        runs = cli["runs"]
        self.rows += [
            ("3b. one CLI run, fresh process", "dagster asset materialize, one partition",
             [r["seconds"] for r in runs], "s"),
            ("3b. backtest wall_time_s", "inside the worker; includes the compile",
             [r["wall"] for r in runs], "s"),
            ("3b. compile", "wall_time_s - warm per-part time of the floor",
             [r["wall"] - warm for r in runs], "s"),
            ("3b. orchestration", "run wall - wall_time_s",
             [r["seconds"] - r["wall"] for r in runs], "s"),
        ]  # fmt: skip

    def _aggregate_rows(self) -> None:
        after_backfill = [
            r["aggregate_s"]
            for r in self.runs("backfill", self.o.workers, "cold")
            + self.runs("backfill", self.o.workers, "warm")
            if "aggregate_s" in r
        ]
        if after_backfill:
            self.rows.append(
                (
                    f"4. aggregate over {self.o.parts} partitions",
                    "aggregate job after a backfill, same process",
                    after_backfill,
                    "s",
                )
            )
        many = self.d.get("aggregate_many", {})
        for variant, children in many.items():
            self.rows.append(
                (
                    f"4. aggregate over {self.o.many:,} partitions, curves {variant}",
                    "aggregate job, fresh process (imports excluded)",
                    [c["seconds"] for c in children],
                    "s",
                )
            )
            self.rows.append(
                (
                    f"4. aggregate {variant}: RSS high-water growth",
                    "VmHWM after the run - VmRSS before it",
                    [c["peak_delta_mb"] for c in children],
                    "MB",
                )
            )
            self.rows.append(
                (
                    f"4. aggregate {variant}: Python heap peak",
                    "tracemalloc peak over a second run",
                    [c["traced_peak_mb"] for c in children],
                    "MB",
                )
            )

    def _defs_rows(self) -> None:
        defs = self.d.get("defs")
        if not defs:
            return
        self.rows += [
            (f"5. definitions load, {self.o.many:,} partitions",
             "fresh python -c: import defs + repository def + RepositorySnap + UI partition reads",
             defs["python_c_s"], "s"),
            ("5. dagster definitions validate", "fresh process, loads the workspace in process",
             defs["validate_s"], "s"),
        ]  # fmt: skip
        for label in ("import_defs_s", "repository_def_s", "repository_snap_s", "ui_partitions_s"):
            values = [s[label] for s in defs["splits"] if s]
            self.rows.append((f"5.   split: {label}", "inside the python -c above", values, "s"))
        for label, values in defs["imports"].items():
            self.rows.append((f"    import cost: {label}", "fresh process wall", values, "s"))

    def _engine_rows(self) -> None:
        engine = self.d.get("engine")
        if not engine:
            return
        events = engine["events"]
        self.rows += [
            (f"6. engine replay, {events:,} events", "hftbacktest elapse+record loop, warm",
             engine["replay_s"], "s"),
            ("6. engine replay throughput", "events / replay time (one core)",
             [events / s / 1e6 for s in engine["replay_s"]], "M ev/s"),
            (f"6. market maker (run_inline), {events:,} events", "configured strategy, warm",
             engine["mm_s"], "s"),
        ]  # fmt: skip

    def _ratios_and_targets(self) -> None:
        o, n, w = self.o, self.o.parts, self.o.workers
        ratio_lines = []
        for label in ("cold", "warm"):
            floor = self.med(self.seconds("floor", w, label))
            backfill = self.med(self.seconds("backfill", w, label))
            floor1 = self.med(self.seconds("floor", 1, label))
            backfill1 = self.med(self.seconds("backfill", 1, label))
            ratio = backfill / floor
            overhead = (backfill - floor) / n
            speedup = backfill1 / backfill
            ratio_lines.append(
                f"| {label} | {fmt(floor)} | {fmt(backfill)} | **{ratio:.2f}** |"
                f" {fmt(overhead)} | {fmt(floor1)} | {fmt(backfill1)} | {floor1 / floor:.2f} |"
                f" **{speedup:.2f}** |"
            )
            self.target(
                f"backfill <= 1.15 x floor ({label})",
                "<= 1.15",
                f"{ratio:.2f}",
                ratio <= 1.15 if ratio == ratio else None,
            )
            self.target(
                f"backfill W={w} >= 1.8 x faster than W=1 ({label})",
                ">= 1.8",
                f"{speedup:.2f}",
                speedup >= 1.8 if speedup == speedup else None,
            )
            self.target(
                f"orchestration per partition in the backfill ({label})",
                "<= 0.1 s",
                fmt(overhead),
                overhead <= 0.1 if overhead == overhead else None,
            )
        perpart = self.d.get("perpart", [])
        if perpart:
            totals = [sum(r["seconds"] for r in c["runs"]) for c in perpart]
            for label in ("cold", "warm"):
                floor = self.med(self.seconds("floor", w, label))
                ratio_lines.append(
                    f"| 3a/1 ({label} floor) | {fmt(floor)} | {fmt(self.med(totals))} |"
                    f" **{self.med(totals) / floor:.2f}** | | | | | |"
                )
        cli = self.d.get("cli")
        if cli:
            per_run = self.med([r["seconds"] for r in cli["runs"]])
            floor = self.med(self.seconds("floor", w, "cold"))
            ratio_lines.append(
                f"| 3b/1 (N x median CLI run, extrapolated; cold floor) | {fmt(floor)} |"
                f" {fmt(per_run * n)} | **{per_run * n / floor:.1f}** | | | | | |"
            )
        self.ratio_table = (
            f"| runs | floor W={w} | backfill W={w} | 2/1 | (2-1)/N | floor W=1 | backfill W=1 |"
            f" floor speed-up | backfill speed-up W=1/W={w} |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(ratio_lines)
        )
        self._compile_target()
        many = self.d.get("aggregate_many", {})
        if many:
            agg = self.med([c["seconds"] for c in many.get("1x", [])])
            self.target(f"aggregate over {o.many:,} partitions", "<= 10 s", fmt(agg), agg <= 10)
            small = self.med([c["peak_delta_mb"] for c in many.get("1x", [])])
            big = self.med([c["peak_delta_mb"] for c in many.get("10x", [])])
            flat = big <= small + max(10.0, 0.1 * small)
            self.target(
                "aggregate memory flat in curve rows (10x curves)",
                "growth <= +10 MB / +10 %",
                f"{fmt(small, 'MB')} -> {fmt(big, 'MB')}",
                flat,
            )
        defs = self.d.get("defs")
        if defs:
            load = self.med(defs["python_c_s"])
            self.target(
                f"definitions load with {o.many:,} partitions (fresh python -c)",
                "<= 3 s",
                fmt(load),
                load <= 3,
            )
        if cli:
            orchestration = self.med([r["seconds"] - r["wall"] for r in cli["runs"]])
            self.target(
                "one-partition CLI run: orchestration (fresh process)",
                "<= 2.5 s",
                fmt(orchestration),
                orchestration <= 2.5,
            )
        if perpart:
            warm = [r["seconds"] - r["wall"] for c in perpart for r in c["runs"][1:]]
            self.target(
                "one-partition run in a warm process (3a): orchestration",
                "<= 2.5 s",
                fmt(self.med(warm)),
                self.med(warm) <= 2.5,
            )
        engine = self.d.get("engine")
        if engine:
            rate = engine["events"] / self.med(engine["replay_s"]) / 1e6
            self.target(
                "engine throughput (replay, one core, warm)", ">= 2 M ev/s", f"{rate:.2f} M ev/s",
                rate >= 2,
            )  # fmt: skip

    def _compile_target(self) -> None:
        w = self.o.workers
        lines = []
        ok = True
        for kind in ("floor", "backfill"):
            for workers in sorted(self.d.get(kind, {}), reverse=True):
                for label in ("cold", "warm"):
                    counts = [r["compiles"] for r in self.runs(kind, workers, label)]
                    limit = min(workers, self.o.parts) if label == "cold" else 0
                    good = all(c <= limit for c in counts)
                    ok = ok and good
                    lines.append(
                        f"| {kind} W={workers} {label} | {counts} | <= {limit} |"
                        f" {'ok' if good else 'MORE'} |"
                    )
        for index, child in enumerate(self.d.get("perpart", [])):
            walls = [r["wall"] for r in child["runs"]]
            slow = [i for i, wall in enumerate(walls) if wall > COMPILE_THRESHOLD_S]
            good = slow in ([], [0])
            ok = ok and good
            lines.append(
                f"| per-partition runs, repeat {index} | slow runs at {slow} | first only |"
                f" {'ok' if good else 'MORE'} |"
            )
        self.compile_table = (
            "| runs | backtests that compiled (per repeat) | allowed | |\n|---|---|---|---|\n"
            + "\n".join(lines)
        )
        self.target(
            f"numba compile at most once per worker (W={w})",
            "cold <= W, warm 0",
            "see compile table",
            ok,
        )

    def breakdowns(self) -> list[str]:
        out = []
        w = self.o.workers
        # Backfill steps.
        for label in ("cold", "warm"):
            runs = self.runs("backfill", w, label)
            if not runs:
                continue
            steps = sorted({k for r in runs for k in r["breakdown"]["steps"]})
            lines = [f"| {step} | {fmt(self.step_median(runs, step))} |" for step in steps]
            run_s = self.med([r["breakdown"]["run_s"] or 0.0 for r in runs])
            total = self.med([r["seconds"] for r in runs])
            events = self.med([r["breakdown"]["n_events"] for r in runs])
            lines.append(f"| run span (RUN_START -> RUN_SUCCESS) | {fmt(run_s)} |")
            lines.append(f"| execute_in_process outside the run span | {fmt(total - run_s)} |")
            lines.append(f"| (event-log entries written by the run) | {events:.0f} |")
            defs_s = self.med([r["defs_s"] for r in runs])
            register_s = self.med([r["register_s"] for r in runs])
            lines.append(f"| (not timed: build_definitions) | {fmt(defs_s)} |")
            lines.append(f"| (not timed: add_dynamic_partitions x N) | {fmt(register_s)} |")
            walls = [x for r in runs for x in r["walls"]]
            out.append(
                f"#### Single-run backfill W={w}, {label}: steps (median over repeats)\n\n"
                "| step | seconds |\n|---|---|\n" + "\n".join(lines) + "\n\n"
                f"Backtest wall_time_s per partition: median {fmt(self.med(walls))},"
                f" max {fmt(max(walls) if walls else None)}, sum {fmt(sum(walls) / len(runs))}"
                " per run."
            )
        perpart = self.d.get("perpart", [])
        if perpart:
            warm_runs = [r for c in perpart for r in c["runs"][1:]]
            steps = sorted({k for r in warm_runs for k in r["breakdown"]["steps"]})
            lines = [f"| {step} | {fmt(self.step_median(warm_runs, step))} |" for step in steps]
            run_s = self.med([r["breakdown"]["run_s"] or 0.0 for r in warm_runs])
            lines.append(f"| run span | {fmt(run_s)} |")
            lines.append(
                "| execute_in_process outside the run span |"
                f" {fmt(self.med([r['seconds'] for r in warm_runs]) - run_s)} |"
            )
            wall = self.med([r["wall"] for r in warm_runs])
            lines.append(f"| backtest wall_time_s | {fmt(wall)} |")
            lines.append(
                "| (event-log entries per run) |"
                f" {self.med([r['breakdown']['n_events'] for r in warm_runs]):.0f} |"
            )
            out.append(
                "#### One warm per-partition run (3a): steps (median)\n\n"
                "| step | seconds |\n|---|---|\n" + "\n".join(lines)
            )
        cli = self.d.get("cli")
        if cli:
            lines = []
            warm = self.warm_task_s()
            for r in cli["runs"]:
                pre = (r["run_start"] or r["launched"]) - r["launched"]
                post = r["launched"] + r["seconds"] - (r["run_end"] or r["launched"])
                step = r["steps"].get("backtest_results", float("nan"))
                lines.append(
                    f"| {r['key']} | {fmt(r['seconds'])} | {fmt(pre)} | {fmt(r['run_s'])} |"
                    f" {fmt(step)} | {fmt(r['wall'])} | {fmt(r['wall'] - warm)} |"
                    f" {fmt(step - r['wall'])} | {fmt(post)} |"
                )
            out.append(
                "#### Fresh-process CLI runs (3b)\n\n"
                "| partition | wall | before RUN_START (interpreter, imports, defs, instance) |"
                " run span | backtest_results step | wall_time_s (worker) | of which compile |"
                " step - wall_time_s (worker spawn + import, IO) | after RUN_SUCCESS |\n"
                "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
            )
        floor_runs = self.runs("floor", w, "cold")
        if floor_runs:
            warm = self.warm_task_s()
            compiles = [x - warm for r in floor_runs for x in r["walls"] if x > COMPILE_THRESHOLD_S]
            out.append(
                f"Compile cost per fresh worker (cold floor, slowest backtests - warm median"
                f" {fmt(warm)}): median {fmt(self.med(compiles))}"
                f" over {len(compiles)} worker start(s)."
            )
        engine = self.d.get("engine")
        if engine:
            lines = [f"| {k} | {fmt(v * 1000, 'ms')} |" for k, v in engine["pieces"].items()]
            out.append(
                "#### Worker task on one standard part, piece by piece (warm, one process)\n\n"
                "| piece | median |\n|---|---|\n" + "\n".join(lines) + "\n\n"
                "`validate_part` runs load_npz + check_events + sha256_part; the worker task is"
                " validate_part + run_inline + curve + metrics + hashes + result.json."
            )
            coverage = self.d.get("floor", {}).get(w, [{}])[0].get("coverage", [])
            mm = self.med(engine["mm_s"])
            out.append(
                f"Market maker on the large part: {fmt(mm)} for {engine['events']:,} events,"
                f" reaching {engine['mm_coverage']:.1%} of the part's time span. Across the N"
                f" standard parts (floor, warm) the backtests reached a median"
                f" {self.med(coverage):.1%} (min {min(coverage, default=0):.1%}) of their span."
                f" Replay steps on the large part: {engine['replay_steps']:,}; warm-up (compile"
                f" of replay + market maker in this process): {fmt(engine['compile_s'])}."
            )
        prepare = self.d.get("prepare_many")
        if prepare:
            t = prepare["timings"]
            out.append(
                f"Synthesizing {self.o.many:,} results (not a target): result directories"
                f" {fmt(t.get('write_results_s'))} (x2 variants), add_dynamic_partitions"
                f" {fmt(t.get('register_partitions_s'))}, {self.o.many:,}"
                f" report_runless_asset_event {fmt(t.get('materialization_events_s'))}"
                f" ({fmt(t.get('materialization_events_s', 0) / self.o.many * 1000, 'ms')} per"
                f" event-log write). Curves: {prepare['curve_rows'][0]:,} ->"
                f" {prepare['curve_rows'][1]:,} rows."
            )
        return out

    def memory_table(self) -> str:
        lines = []

        def add(name: str, children: Sequence[dict[str, Any]], has_workers: bool = True) -> None:
            if not children:
                return
            parent = self.med([c["memory"]["self_max_rss_mb"] for c in children])
            workers = self.med([c["memory"]["children_max_rss_mb"] for c in children])
            cell = fmt(workers, "MB") if has_workers else "n/a (no engine workers)"
            lines.append(f"| {name} | {fmt(parent, 'MB')} | {cell} |")

        for w, children in sorted(self.d.get("floor", {}).items(), reverse=True):
            add(f"floor W={w}", children)
        for w, children in sorted(self.d.get("backfill", {}).items(), reverse=True):
            add(f"single-run backfill W={w} (+ aggregate)", children)
        add("per-partition runs (3a)", self.d.get("perpart", []))
        if self.d.get("cli"):
            add("CLI runs (3b): parent; children = dagster processes", [self.d["cli"]])
        for variant, children in self.d.get("aggregate_many", {}).items():
            add(f"aggregate {self.o.many:,}, curves {variant}", children, has_workers=False)
        if self.d.get("engine"):
            add("engine throughput (in process, = one worker)", [self.d["engine"]], False)
        return (
            "| process | peak RSS of the process (RUSAGE_SELF) | peak RSS of its largest worker"
            " (RUSAGE_CHILDREN) |\n|---|---|---|\n" + "\n".join(lines) + "\n\n"
            "RUSAGE_CHILDREN is the largest reaped descendant; a forked helper (Dagster starts"
            " a few per run) counts the parent's pages until it execs, so the column is the"
            " engine workers only where they are the largest."
        )

    def render(self) -> str:
        o = self.o
        machine = machine_description()
        table = [
            "| measurement | what it includes | median | min - max | n |",
            "|---|---|---|---|---|",
        ]
        for name, what, values, unit in self.rows:
            med, rng, count = stat_cells(values, unit)
            table.append(f"| {name} | {what} | {med} | {rng} | {count} |")
        verdicts = ["| target | goal | measured | |", "|---|---|---|---|"]
        for name, goal, measured, ok in self.targets:
            mark = "n/a" if ok is None else ("PASS" if ok else "**FAIL**")
            verdicts.append(f"| {name} | {goal} | {measured} | {mark} |")
        parts = [
            "# trading-runtime benchmark",
            "",
            f"Generated by `benchmarks/run.py` ({self.d['started']} - {self.d['finished']}).",
            "",
            "```",
            o.command,
            "```",
            "",
            f"Data: {o.parts} parts x {o.events:,} events (generator seed {o.seed}),"
            f" {self.d['parts_bytes'] / 2**20:.0f} MB; W = {o.workers} workers;"
            f" {o.repeats} repeat(s) per scenario (a repeat is a fresh process);"
            f" {o.many:,} synthetic partitions for 4-5; large part {o.large_events:,} events.",
            "",
            self.screen_text(),
            "",
            "Machine: " + "; ".join(f"{k} {v}" for k, v in machine.items()) + ".",
            "",
            "The machine is shared: other engineers' processes (tests) may have been running."
            " Before each measured process the script waited (up to"
            f" {o.wait_idle:g} s) for a quiet machine; the CPU other processes used while it"
            " ran is under *Contention* at the end (with 2 cores, 1.0 core taken by others"
            " halves what W=2 can get).",
            "",
            "## Results (medians over repeats)",
            "",
            *table,
            "",
            "## Ratios",
            "",
            self.ratio_table,
            "",
            "2/1 = backfill / floor with the same workers; (2-1)/N = orchestration overhead per"
            " partition; speed-ups = W=1 time / W=cores time.",
            "",
            "## Targets",
            "",
            *verdicts,
            "",
            "## numba compiles",
            "",
            self.compile_table,
            "",
            "## Peak memory (median over repeats)",
            "",
            self.memory_table(),
            "",
            "## Breakdowns",
            "",
            *[block + "\n" for block in self.breakdowns()],
        ]
        parts += ["## Contention (per measured process)", "", self.contention_table(), ""]
        profiles = self.profiles()
        if profiles:
            parts += ["## Profiles (extra runs, cProfile, parent process only)", "", *profiles]
        return "\n".join(parts).rstrip() + "\n"

    def screen_text(self) -> str:
        screen = self.d.get("screen")
        if not screen:
            return ""
        failed = screen["failed"]
        head = (
            f"Parts: {screen['screened']} generated, the port run once over all of them; the"
            f" first {self.o.parts} that succeed are the benchmark's parts"
            f" ({screen['selected'][0]} .. {screen['selected'][-1]})."
        )
        if not failed:
            return head + " None failed."
        lines = "\n".join(f"- `{key}`: {error}" for key, error in sorted(failed.items()))
        return (
            head + f" **{len(failed)} part(s) fail in the runtime and were left out** (a"
            " single-run backfill fails whole on one failed part):\n\n" + lines
        )

    def contention_table(self) -> str:
        lines = [
            f"| {c['name']} | {fmt(c['seconds'])} | {fmt(c['waited_s'])} | {c['load1']:.2f} |"
            f" {c['own_cores']:.2f} | {c['other_cores']:.2f} | {c['steal_cores']:.2f} |"
            for c in self.d.get("contention", [])
        ]
        others = [c["other_cores"] for c in self.d.get("contention", [])]
        return (
            "| process | wall | waited for idle | load (1 min) at start | its CPU (cores) |"
            " others' CPU (cores) | steal (cores) |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(lines)
            + f"\n\nOther processes used {self.med(others):.2f} cores (median), at most"
            f" {max(others, default=0.0):.2f}, while the measured processes ran."
        )

    def profiles(self) -> list[str]:
        found: list[tuple[str, dict[str, Any]]] = []
        for child in self.d.get("backfill", {}).get(self.o.workers, []):
            for run in child["runs"]:
                if run.get("profile"):
                    kind = "cold" if "cold" in run["label"] else "warm"
                    title = (
                        f"Single-run backfill, W={self.o.workers}, {self.o.parts} partitions,"
                        f" {kind} ({fmt(run['seconds'])} under the profiler)"
                    )
                    found.append((title, run["profile"]))
        for child in self.d.get("perpart", []):
            if child.get("profile"):
                found.append(("One warm per-partition run", child["profile"]))
        out = []
        for title, profile in found:
            rows = [
                f"| {label} | {calls} | {fmt(cumulative)} | {fmt(own)} |"
                for label, calls, cumulative, own in profile["hotspots"]
            ]
            out.append(
                f"### {title}\n\n"
                "| where (parent process) | calls | cumulative | own |\n|---|---|---|---|\n"
                + "\n".join(rows)
                + "\n\n<details><summary>top functions</summary>\n\n```\n"
                + trim_profile(profile["text"])
                + "\n```\n\n</details>\n"
            )
        return out


def trim_profile(text: str, width: int = 160) -> str:
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("Ordered by", "List reduced")):
            continue
        line = line.replace(str(REPO_ROOT) + "/", "").replace(sys.prefix + "/", "")
        lines.append(line[:width])
    return "\n".join(lines)


def write_report(path: Path, text: str) -> None:
    kept = ""
    if path.is_file():
        previous = path.read_text()
        if ANALYSIS_MARKER in previous:
            kept = previous[previous.index(ANALYSIS_MARKER) :]
    path.write_text(text + ("\n" + kept if kept else ""))


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Options | None]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark the engine floor against Dagster orchestration (see docstring).",
    )
    parser.add_argument("--parts", type=int, default=None, help="N parts (default 100)")
    parser.add_argument("--events", type=int, default=None, help="events per part (100,000)")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="W (cores)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--many", type=int, default=None, help="synthetic partitions (10,000)")
    parser.add_argument("--cli-sample", type=int, default=None, help="fresh CLI runs (3)")
    parser.add_argument("--large-events", type=int, default=None, help="large part (1,100,000)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 4 parts x 20,000 events, 1 repeat, 300 synthetic partitions",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "trading-runtime-bench",
        help="generated parts, reused by spec",
    )
    parser.add_argument("--output", type=Path, default=None, help="results markdown file")
    parser.add_argument("--child-timeout", type=float, default=1800.0, help="per child process")
    parser.add_argument("--task-timeout", type=float, default=600.0, help="per backtest")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=None,
        help="before each measured process, wait up to this many seconds for a quiet machine"
        " (default 15, --quick 0)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled extra runs")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the work directory")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args, None
    quick = args.quick

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"--only: unknown scenario(s) {', '.join(sorted(unknown))}")
    output = args.output if args.output is not None else (None if quick else DEFAULT_OUTPUT)
    options = Options(
        parts=pick(args.parts, 100, 4),
        events=pick(args.events, 100_000, 20_000),
        repeats=pick(args.repeats, 3, 1),
        workers=max(1, args.workers),
        seed=args.seed,
        many=pick(args.many, 10_000, 300),
        cli_sample=pick(args.cli_sample, 3, 1),
        large_events=pick(args.large_events, 1_100_000, 200_000),
        cache_dir=args.cache_dir,
        output=output,
        child_timeout=args.child_timeout,
        task_timeout=args.task_timeout,
        wait_idle=args.wait_idle if args.wait_idle is not None else (0.0 if quick else 15.0),
        profile=not args.no_profile,
        only=only,
        keep_work=args.keep_work,
        quick=quick,
        command=".venv/bin/python -m benchmarks.run "
        + " ".join(sys.argv[1:] if argv is None else argv),
    )
    return args, options


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


def main(argv: Sequence[str] | None = None) -> int:
    args, options = parse_args(argv)
    if options is None:
        child_main(args.child, args.child_spec, args.child_out)
        return 0
    started = time.perf_counter()
    print(
        f"benchmark: {options.parts} parts x {options.events:,} events, W={options.workers},"
        f" {options.repeats} repeat(s); scenarios {', '.join(sorted(options.only))}"
    )
    with work_directory(options.keep_work, options.cache_dir) as work:
        try:
            data = run_all(options, work)
        except BenchmarkError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
        (work / "data.json").write_text(json.dumps(data, indent=1))
        text = Report(options, data).build()
    print()
    print(text)
    if options.output is not None:
        write_report(options.output, text)
        print(f"written to {options.output} ({time.perf_counter() - started:.0f} s in total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
