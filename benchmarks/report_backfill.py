"""The single-run backfill's part of the report (scenario 2), storage by storage: its *Results*
rows, its lines of the *Ratios* table with the targets they give, and its step breakdowns."""

from __future__ import annotations

from typing import Any

from benchmarks.options import STORAGE_NAMES, STORAGES
from benchmarks.report_format import ReportData, Row, Target, fmt, med

LABELS = ("cold", "warm")
FLOOR_RATIO_LIMIT = 1.15  # backfill / floor, same workers
SPEEDUP_LIMIT = 1.8  # backfill W=1 / backfill W=cores
# Orchestration per partition, (backfill - floor) / N: the event log costs more on PostgreSQL.
ORCHESTRATION_LIMIT_S = {"sqlite": 0.02, "postgres": 0.05}
WHERE = {
    "sqlite": "SQLite files in a fresh DAGSTER_HOME",
    "postgres": "a fresh database on the PostgreSQL server",
}


def backfill_rows(v: ReportData) -> list[Row]:
    """The *Results* rows: each storage's backfills, W = cores then 1, cold then warm."""
    rows: list[Row] = []
    for storage in v.storages:
        children = v.children("backfill", storage)
        for workers in sorted(children, reverse=True):
            for label in LABELS:
                rows.append(
                    (
                        f"2. single-run backfill, {STORAGE_NAMES[storage]}, W={workers}, {label}",
                        "execute_in_process of validate_parts, then of backtest_parts, over the"
                        " range (parts and their check; backtest_results, variant base, and its"
                        f" check); instance: {WHERE[storage]}"
                        + ("; first run in the process" if label == "cold" else "; warm pool"),
                        v.seconds("backfill", workers, label, storage),
                        "s",
                    )
                )
    return rows


def backfill_ratios(v: ReportData) -> tuple[list[str], list[Target]]:
    """The *Ratios* table's backfill lines, a storage's cold then warm, and the targets: per
    storage, cold and warm, the backfill against the floor, the speed-up W=1 -> W=cores and
    the orchestration per partition; a storage asked for but not measured gives its targets
    as not measured, with the reason."""
    n, w = v.o.parts, v.o.workers
    lines: list[str] = []
    targets: list[Target] = []
    skipped = v.skipped_storages
    for storage in STORAGES:
        if storage in skipped:
            targets += _not_measured(storage, w, skipped[storage])
        if storage not in v.storages:
            continue
        name = STORAGE_NAMES[storage]
        for label in LABELS:
            floor = med(v.seconds("floor", w, label))
            backfill = med(v.seconds("backfill", w, label, storage))
            floor1 = med(v.seconds("floor", 1, label))
            backfill1 = med(v.seconds("backfill", 1, label, storage))
            ratio = backfill / floor
            overhead = (backfill - floor) / n
            speedup = backfill1 / backfill
            lines.append(
                f"| {name}, {label} | {fmt(floor)} | {fmt(backfill)} | **{ratio:.2f}** |"
                f" {fmt(overhead)} | {fmt(floor1)} | {fmt(backfill1)} | {floor1 / floor:.2f} |"
                f" **{speedup:.2f}** |"
            )
            targets += _targets(storage, label, w, ratio, speedup, overhead)
    return lines, targets


def _goals(storage: str, label: str, w: int) -> list[tuple[str, str]]:
    """(name, goal) of a storage's backfill targets for ``label``."""
    name = STORAGE_NAMES[storage]
    return [
        (f"{name}: backfill <= {FLOOR_RATIO_LIMIT} x floor ({label})", f"<= {FLOOR_RATIO_LIMIT}"),
        (
            f"{name}: backfill W={w} >= {SPEEDUP_LIMIT} x faster than W=1 ({label})",
            f">= {SPEEDUP_LIMIT}",
        ),
        (
            f"{name}: orchestration per partition in the backfill ({label})",
            f"<= {ORCHESTRATION_LIMIT_S[storage]} s",
        ),
    ]


def _targets(
    storage: str, label: str, w: int, ratio: float, speedup: float, overhead: float
) -> list[Target]:
    limit = ORCHESTRATION_LIMIT_S[storage]
    measured = [
        (f"{ratio:.2f}", _verdict(ratio, lambda x: x <= FLOOR_RATIO_LIMIT)),
        (f"{speedup:.2f}", _verdict(speedup, lambda x: x >= SPEEDUP_LIMIT)),
        (fmt(overhead), _verdict(overhead, lambda x: x <= limit)),
    ]
    return [
        (name, goal, value, ok)
        for (name, goal), (value, ok) in zip(_goals(storage, label, w), measured, strict=True)
    ]


def _verdict(value: float, ok: Any) -> bool | None:
    return bool(ok(value)) if value == value else None  # NaN: not measurable


def _not_measured(storage: str, w: int, why: str) -> list[Target]:
    text = "not measured: " + why.replace("|", "/")
    return [
        (name, goal, text, None) for label in LABELS for name, goal in _goals(storage, label, w)
    ]


def backfill_steps(v: ReportData) -> list[str]:
    """The *Breakdowns* blocks of the backfill with W = cores: per storage, cold then warm."""
    return [
        block for storage in v.storages for label in LABELS if (block := _steps(v, storage, label))
    ]


def _steps(v: ReportData, storage: str, label: str) -> str:
    runs = v.runs("backfill", v.o.workers, label, storage)
    if not runs:
        return ""
    steps = sorted({k for r in runs for k in r["breakdown"]["steps"]})
    lines = [f"| {step} | {fmt(v.step_median(runs, step))} |" for step in steps]
    run_s = med([r["breakdown"]["run_s"] or 0.0 for r in runs])
    total = med([r["seconds"] for r in runs])
    events = med([r["breakdown"]["n_events"] for r in runs])
    lines.append(f"| run span (RUN_START -> RUN_SUCCESS) | {fmt(run_s)} |")
    lines.append(f"| execute_in_process outside the run span | {fmt(total - run_s)} |")
    lines.append(f"| (event-log entries written by the run) | {events:.0f} |")
    defs_s = med([r["defs_s"] for r in runs])
    register_s = med([r["register_s"] for r in runs])
    lines.append(f"| (not timed: build_definitions) | {fmt(defs_s)} |")
    lines.append(f"| (not timed: add_dynamic_partitions x N) | {fmt(register_s)} |")
    walls = [x for r in runs for x in r["walls"]]
    return (
        f"#### Single-run backfill, {STORAGE_NAMES[storage]}, W={v.o.workers}, {label}: steps"
        " (median over repeats)\n\n"
        "| step | seconds |\n|---|---|\n" + "\n".join(lines) + "\n\n"
        f"Worker time (startup_s + wall_time_s) per partition: median {fmt(med(walls))},"
        f" max {fmt(max(walls) if walls else None)}, sum {fmt(sum(walls) / len(runs))}"
        " per run."
    )


def storages_text(v: ReportData) -> str:
    """The header's line on the backfill's storages: which were measured, on what server, and
    plainly which were asked for and not measured, with why."""
    info = v.d.get("storages")
    if not v.storages and not v.skipped_storages:
        return ""
    measured = [
        STORAGE_NAMES[s]
        + (f" ({info['server']})" if s == "postgres" and info and info.get("server") else "")
        for s in v.storages
    ]
    text = "Single-run backfill (2) measured on: " + (", ".join(measured) or "no storage") + "."
    if len(v.storages) > 1:
        text += (
            " Each backfill gets a fresh instance (a new DAGSTER_HOME; on PostgreSQL a new"
            " database); the storages take turns first from one set of repeats to the next."
        )
    for storage, why in v.skipped_storages.items():
        text += f"\n\n**{STORAGE_NAMES[storage]} was not measured**: {why}"
    return text
