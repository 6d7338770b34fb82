"""The report's *Results* table: its rows, scenario by scenario."""

from __future__ import annotations

from benchmarks.options import STORAGE_NAMES
from benchmarks.report_backfill import backfill_rows
from benchmarks.report_format import ReportData, Row


def result_rows(v: ReportData) -> list[Row]:
    """The *Results* table's rows, scenario by scenario."""
    return [
        *_floor_rows(v),
        *backfill_rows(v),
        *_perpart_rows(v),
        *_cli_rows(v),
        *_aggregate_rows(v),
        *_defs_rows(v),
        *_engine_rows(v),
    ]


def _floor_rows(v: ReportData) -> list[Row]:
    rows: list[Row] = []
    for workers in sorted(v.d["floor"], reverse=True):
        for label, what in (
            ("cold", "fresh process: pool spawn + worker imports + numba compile per worker"),
            ("warm", "same pool, already compiled"),
        ):
            rows.append(
                (
                    f"1. floor, W={workers}, {label}",
                    f"backtest_tasks over {v.o.parts} parts, no charts; {what}",
                    v.seconds("floor", workers, label),
                    "s",
                )
            )
    return rows


def _perpart_rows(v: ReportData) -> list[Row]:
    children = v.d.get("perpart", [])
    if not children:
        return []
    totals = [sum(r["seconds"] for r in c["runs"]) for c in children]
    first = [c["runs"][0]["seconds"] for c in children]
    warm_runs = [r for c in children for r in c["runs"][1:]]
    per_run = [r["seconds"] for r in warm_runs]
    orchestration = [r["seconds"] - r["wall"] for r in warm_runs]
    return [
        (
            f"3a. {v.o.parts} per-partition runs, one process",
            "sum of N execute_in_process(partition_key) runs (first cold)",
            totals,
            "s",
        ),
        ("3a. first run (cold)", "includes the 1-worker pool spawn + compile", first, "s"),
        ("3a. one warm run", "per run after the first (all runs pooled)", per_run, "s"),
        ("3a. orchestration per warm run", "run wall - worker time", orchestration,
         "s"),
    ]  # fmt: skip


def _cli_rows(v: ReportData) -> list[Row]:
    cli = v.d.get("cli")
    if not cli:
        return []
    warm = v.warm_task_s()
    runs = cli["runs"]
    return [
        ("3b. one CLI run, fresh process", "dagster asset materialize, one partition",
         [r["seconds"] for r in runs], "s"),
        ("3b. worker time", "startup_s + wall_time_s; includes the compile",
         [r["wall"] for r in runs], "s"),
        ("3b. compile", "worker time - warm per-part time of the floor",
         [r["wall"] - warm for r in runs], "s"),
        ("3b. orchestration", "run wall - worker time",
         [r["seconds"] - r["wall"] for r in runs], "s"),
    ]  # fmt: skip


def _aggregate_rows(v: ReportData) -> list[Row]:
    rows: list[Row] = []
    for storage in v.storages:
        after_backfill = [
            r["aggregate_s"]
            for label in ("cold", "warm")
            for r in v.runs("backfill", v.o.workers, label, storage)
            if "aggregate_s" in r
        ]
        if after_backfill:
            rows.append(
                (
                    f"4. aggregate over {v.o.parts} partitions, {STORAGE_NAMES[storage]}",
                    "aggregate job after a backfill, same process and instance",
                    after_backfill,
                    "s",
                )
            )
    for variant, children in v.d.get("aggregate_many", {}).items():
        rows += [
            (f"4. aggregate over {v.o.many:,} partitions, curves {variant}",
             "aggregate job, fresh process (imports excluded)",
             [c["seconds"] for c in children], "s"),
            (f"4. aggregate {variant}: RSS high-water growth",
             "VmHWM after the run - VmRSS before it",
             [c["peak_delta_mb"] for c in children], "MB"),
            (f"4. aggregate {variant}: Python heap peak", "tracemalloc peak over a second run",
             [c["traced_peak_mb"] for c in children], "MB"),
        ]  # fmt: skip
    return rows


def _defs_rows(v: ReportData) -> list[Row]:
    defs = v.d.get("defs")
    if not defs:
        return []
    rows: list[Row] = [
        (f"5. definitions load, {v.o.many:,} partitions",
         "fresh python -c: import defs + repository def + RepositorySnap + UI partition reads",
         defs["python_c_s"], "s"),
        ("5. dagster definitions validate", "fresh process, loads the workspace in process",
         defs["validate_s"], "s"),
    ]  # fmt: skip
    for label in ("import_defs_s", "repository_def_s", "repository_snap_s", "ui_partitions_s"):
        values = [s[label] for s in defs["splits"] if s]
        rows.append((f"5.   split: {label}", "inside the python -c above", values, "s"))
    for label, values in defs["imports"].items():
        rows.append((f"    import cost: {label}", "fresh process wall", values, "s"))
    return rows


def _engine_rows(v: ReportData) -> list[Row]:
    engine = v.d.get("engine")
    if not engine:
        return []
    events = engine["events"]
    return [
        (f"6. engine replay, {events:,} events", "hftbacktest elapse+record loop, warm",
         engine["replay_s"], "s"),
        ("6. engine replay throughput", "events / replay time (one core)",
         [events / s / 1e6 for s in engine["replay_s"]], "M ev/s"),
        (f"6. market maker (backtest_in_process), {events:,} events", "configured strategy, warm",
         engine["mm_s"], "s"),
    ]  # fmt: skip
