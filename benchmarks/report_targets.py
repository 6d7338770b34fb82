"""The report's ratios and target verdicts: the *Ratios* table, the targets and the *numba
compiles* table."""

from __future__ import annotations

from benchmarks.measure import COMPILE_THRESHOLD_S
from benchmarks.options import STORAGE_NAMES
from benchmarks.report_backfill import backfill_ratios
from benchmarks.report_format import ReportData, Target, fmt, med

# --------------------------------------------------------------------------- ratios, targets


def ratio_table(v: ReportData) -> tuple[str, list[Target]]:
    """The *Ratios* table and the backfill targets (per storage: ratio, speed-up, overhead;
    cold, warm)."""
    w = v.o.workers
    lines, targets = backfill_ratios(v)
    lines += _per_partition_ratio_lines(v)
    table = (
        f"| runs | floor W={w} | backfill W={w} | 2/1 | (2-1)/N | floor W=1 | backfill W=1 |"
        f" floor speed-up | backfill speed-up W=1/W={w} |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
    )
    return table, targets


def _per_partition_ratio_lines(v: ReportData) -> list[str]:
    """3a (all N runs in one process) and 3b (N fresh CLI runs, extrapolated) against the floor."""
    w, lines = v.o.workers, []
    perpart = v.d.get("perpart", [])
    if perpart:
        totals = [sum(r["seconds"] for r in c["runs"]) for c in perpart]
        for label in ("cold", "warm"):
            floor = med(v.seconds("floor", w, label))
            lines.append(
                f"| 3a/1 ({label} floor) | {fmt(floor)} | {fmt(med(totals))} |"
                f" **{med(totals) / floor:.2f}** | | | | | |"
            )
    cli = v.d.get("cli")
    if cli:
        per_run = med([r["seconds"] for r in cli["runs"]])
        floor = med(v.seconds("floor", w, "cold"))
        lines.append(
            f"| 3b/1 (N x median CLI run, extrapolated; cold floor) | {fmt(floor)} |"
            f" {fmt(per_run * v.o.parts)} | **{per_run * v.o.parts / floor:.1f}** | | | | | |"
        )
    return lines


def scenario_targets(v: ReportData) -> list[Target]:
    """The targets after the compile one: aggregate, definitions, per-partition runs, engine."""
    targets: list[Target] = []
    many = v.d.get("aggregate_many", {})
    if many:
        agg = med([c["seconds"] for c in many.get("1x", [])])
        targets.append((f"aggregate over {v.o.many:,} partitions", "<= 10 s", fmt(agg), agg <= 10))
        small = med([c["peak_delta_mb"] for c in many.get("1x", [])])
        big = med([c["peak_delta_mb"] for c in many.get("10x", [])])
        flat = big <= small + max(10.0, 0.1 * small)
        targets.append(
            (
                "aggregate memory flat in curve rows (10x curves)",
                "growth <= +10 MB / +10 %",
                f"{fmt(small, 'MB')} -> {fmt(big, 'MB')}",
                flat,
            )
        )
    defs = v.d.get("defs")
    if defs:
        load = med(defs["python_c_s"])
        targets.append(
            (
                f"definitions load with {v.o.many:,} partitions (fresh python -c)",
                "<= 3 s",
                fmt(load),
                load <= 3,
            )
        )
    return targets + _orchestration_targets(v)


def _orchestration_targets(v: ReportData) -> list[Target]:
    targets: list[Target] = []
    cli = v.d.get("cli")
    if cli:
        orchestration = med([r["seconds"] - r["wall"] for r in cli["runs"]])
        targets.append(
            (
                "one-partition CLI run: orchestration (fresh process)",
                "<= 2.5 s",
                fmt(orchestration),
                orchestration <= 2.5,
            )
        )
    perpart = v.d.get("perpart", [])
    if perpart:
        warm = [r["seconds"] - r["wall"] for c in perpart for r in c["runs"][1:]]
        targets.append(
            (
                "one-partition run in a warm process (3a): orchestration",
                "<= 2.5 s",
                fmt(med(warm)),
                med(warm) <= 2.5,
            )
        )
    engine = v.d.get("engine")
    if engine:
        rate = engine["events"] / med(engine["replay_s"]) / 1e6
        targets.append(
            ("engine throughput (replay, one core, warm)", ">= 2 M ev/s", f"{rate:.2f} M ev/s",
             rate >= 2)
        )  # fmt: skip
    return targets


# --------------------------------------------------------------------------- numba compiles


def compile_table(v: ReportData) -> tuple[str, Target]:
    """The *numba compiles* table and its target (at most once per worker)."""
    lines: list[str] = []
    ok = True
    kinds: list[tuple[str, str | None, str]] = [("floor", None, "floor")]
    kinds += [("backfill", s, f"backfill {STORAGE_NAMES[s]}") for s in v.storages]
    for kind, storage, name in kinds:
        for workers in sorted(v.children(kind, storage), reverse=True):
            for label in ("cold", "warm"):
                counts = [r["compiles"] for r in v.runs(kind, workers, label, storage)]
                limit = min(workers, v.o.parts) if label == "cold" else 0
                good = all(c <= limit for c in counts)
                ok = ok and good
                lines.append(
                    f"| {name} W={workers} {label} | {counts} | <= {limit} |"
                    f" {'ok' if good else 'MORE'} |"
                )
    for index, child in enumerate(v.d.get("perpart", [])):
        walls = [r["wall"] for r in child["runs"]]
        slow = [i for i, wall in enumerate(walls) if wall > COMPILE_THRESHOLD_S]
        good = slow in ([], [0])
        ok = ok and good
        lines.append(
            f"| per-partition runs, repeat {index} | slow runs at {slow} | first only |"
            f" {'ok' if good else 'MORE'} |"
        )
    table = (
        "| runs | backtests that compiled (per repeat) | allowed | |\n|---|---|---|---|\n"
        + "\n".join(lines)
    )
    target = (
        f"numba compile at most once per worker (W={v.o.workers})",
        "cold <= W, warm 0",
        "see compile table",
        ok,
    )
    return table, target
