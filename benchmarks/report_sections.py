"""The report's descriptive sections: breakdowns, peak memory, parts screened, contention and
profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.measure import COMPILE_THRESHOLD_S
from benchmarks.options import STORAGE_NAMES
from benchmarks.report_backfill import backfill_steps
from benchmarks.report_format import ReportData, fmt, med, trim_profile

# --------------------------------------------------------------------------- breakdowns


def breakdowns(v: ReportData) -> list[str]:
    """The *Breakdowns* blocks: backfill and per-partition steps, CLI runs, compile cost, the
    worker task's pieces, the market maker and the synthetic results."""
    out = backfill_steps(v)
    out += [_perpart_steps(v), _cli_runs(v), _compile_cost(v)]
    out += _engine_blocks(v)
    out.append(_prepare_many(v))
    return [block for block in out if block]


def _perpart_steps(v: ReportData) -> str:
    perpart = v.d.get("perpart", [])
    if not perpart:
        return ""
    warm_runs = [r for c in perpart for r in c["runs"][1:]]
    steps = sorted({k for r in warm_runs for k in r["breakdown"]["steps"]})
    lines = [f"| {step} | {fmt(v.step_median(warm_runs, step))} |" for step in steps]
    run_s = med([r["breakdown"]["run_s"] or 0.0 for r in warm_runs])
    lines.append(f"| run span | {fmt(run_s)} |")
    lines.append(
        "| execute_in_process outside the run span |"
        f" {fmt(med([r['seconds'] for r in warm_runs]) - run_s)} |"
    )
    wall = med([r["wall"] for r in warm_runs])
    lines.append(f"| worker time (startup_s + wall_time_s) | {fmt(wall)} |")
    lines.append(
        "| (event-log entries per run) |"
        f" {med([r['breakdown']['n_events'] for r in warm_runs]):.0f} |"
    )
    return (
        "#### One warm per-partition run (3a): steps (median)\n\n"
        "| step | seconds |\n|---|---|\n" + "\n".join(lines)
    )


def _cli_runs(v: ReportData) -> str:
    cli = v.d.get("cli")
    if not cli:
        return ""
    lines = []
    warm = v.warm_task_s()
    for r in cli["runs"]:
        pre = (r["run_start"] or r["launched"]) - r["launched"]
        post = r["launched"] + r["seconds"] - (r["run_end"] or r["launched"])
        step = r["steps"].get("backtest_results", float("nan"))
        lines.append(
            f"| {r['key']} | {fmt(r['seconds'])} | {fmt(pre)} | {fmt(r['run_s'])} |"
            f" {fmt(step)} | {fmt(r['wall'])} | {fmt(r['wall'] - warm)} |"
            f" {fmt(step - r['wall'])} | {fmt(post)} |"
        )
    return (
        "#### Fresh-process CLI runs (3b)\n\n"
        "| partition | wall | before RUN_START (interpreter, imports, defs, instance) |"
        " run span | backtest_results step | worker time | of which compile |"
        " step - worker time (worker spawn + import, IO) | after RUN_SUCCESS |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines)
    )


def _compile_cost(v: ReportData) -> str:
    floor_runs = v.runs("floor", v.o.workers, "cold")
    if not floor_runs:
        return ""
    warm = v.warm_task_s()
    compiles = [x - warm for r in floor_runs for x in r["walls"] if x > COMPILE_THRESHOLD_S]
    return (
        f"Compile cost per fresh worker (cold floor, slowest backtests - warm median"
        f" {fmt(warm)}): median {fmt(med(compiles))}"
        f" over {len(compiles)} worker start(s)."
    )


def _engine_blocks(v: ReportData) -> list[str]:
    engine = v.d.get("engine")
    if not engine:
        return []
    lines = [f"| {k} | {fmt(x * 1000, 'ms')} |" for k, x in engine["pieces"].items()]
    pieces = (
        "#### Worker task on one standard part, piece by piece (warm, one process)\n\n"
        "| piece | median |\n|---|---|\n" + "\n".join(lines) + "\n\n"
        "`validate_part` runs load_npz + check_events + sha256_part; the worker task is"
        " validate_part + backtest_in_process + curve + metrics + hashes + result.json."
    )
    coverage = v.d.get("floor", {}).get(v.o.workers, [{}])[0].get("coverage", [])
    market_maker = (
        f"Market maker on the large part: {fmt(med(engine['mm_s']))} for {engine['events']:,}"
        f" events, reaching {engine['mm_coverage']:.1%} of the part's time span. Across the N"
        f" standard parts (floor, warm) the backtests reached a median"
        f" {med(coverage):.1%} (min {min(coverage, default=0):.1%}) of their span."
        f" Replay steps on the large part: {engine['replay_steps']:,}; warm-up (compile"
        f" of replay + market maker in this process): {fmt(engine['compile_s'])}."
    )
    return [pieces, market_maker]


def _prepare_many(v: ReportData) -> str:
    prepare = v.d.get("prepare_many")
    if not prepare:
        return ""
    t, many = prepare["timings"], v.o.many
    return (
        f"Synthesizing {many:,} results (not a target): result directories"
        f" {fmt(t.get('write_results_s'))} (x2 variants), add_dynamic_partitions"
        f" {fmt(t.get('register_partitions_s'))}, {many:,}"
        f" report_runless_asset_event {fmt(t.get('materialization_events_s'))}"
        f" ({fmt(t.get('materialization_events_s', 0) / many * 1000, 'ms')} per"
        f" event-log write). Curves: {prepare['curve_rows'][0]:,} ->"
        f" {prepare['curve_rows'][1]:,} rows."
    )


# --------------------------------------------------------------------------- other sections


def memory_table(v: ReportData) -> str:
    """The *Peak memory* table: each scenario's process and its largest worker."""
    lines = []

    def add(name: str, children: Sequence[dict[str, Any]], has_workers: bool = True) -> None:
        if not children:
            return
        parent = med([c["memory"]["self_max_rss_mb"] for c in children])
        workers = med([c["memory"]["children_max_rss_mb"] for c in children])
        cell = fmt(workers, "MB") if has_workers else "n/a (no engine workers)"
        lines.append(f"| {name} | {fmt(parent, 'MB')} | {cell} |")

    for w, children in sorted(v.d.get("floor", {}).items(), reverse=True):
        add(f"floor W={w}", children)
    for storage in v.storages:
        for w, children in sorted(v.children("backfill", storage).items(), reverse=True):
            add(f"single-run backfill, {STORAGE_NAMES[storage]}, W={w} (+ aggregate)", children)
    add("per-partition runs (3a)", v.d.get("perpart", []))
    if v.d.get("cli"):
        add("CLI runs (3b): parent; children = dagster processes", [v.d["cli"]])
    for variant, children in v.d.get("aggregate_many", {}).items():
        add(f"aggregate {v.o.many:,}, curves {variant}", children, has_workers=False)
    if v.d.get("engine"):
        add("engine throughput (in process, = one worker)", [v.d["engine"]], False)
    return (
        "| process | peak RSS of the process (RUSAGE_SELF) | peak RSS of its largest worker"
        " (RUSAGE_CHILDREN) |\n|---|---|---|\n" + "\n".join(lines) + "\n\n"
        "RUSAGE_CHILDREN is the largest reaped descendant; a forked helper (Dagster starts"
        " a few per run) counts the parent's pages until it execs, so the column is the"
        " engine workers only where they are the largest."
    )


def screen_text(v: ReportData) -> str:
    """Which parts were screened and selected, and the ones the runtime fails on."""
    screen = v.d.get("screen")
    if not screen:
        return ""
    failed = screen["failed"]
    head = (
        f"Parts: {screen['screened']} generated, the port run once over all of them; the"
        f" first {v.o.parts} that succeed are the benchmark's parts"
        f" ({screen['selected'][0]} .. {screen['selected'][-1]})."
    )
    if not failed:
        return head + " None failed."
    lines = "\n".join(f"- `{key}`: {error}" for key, error in sorted(failed.items()))
    return (
        head + f" **{len(failed)} part(s) fail in the runtime and were left out** (a"
        " single-run backfill fails whole on one failed part):\n\n" + lines
    )


def contention_table(v: ReportData) -> str:
    """The *Contention* table: the CPU other processes used while each measured one ran."""
    lines = [
        f"| {c['name']} | {fmt(c['seconds'])} | {fmt(c['waited_s'])} | {c['load1']:.2f} |"
        f" {c['own_cores']:.2f} | {c['other_cores']:.2f} | {c['steal_cores']:.2f} |"
        for c in v.d.get("contention", [])
    ]
    others = [c["other_cores"] for c in v.d.get("contention", [])]
    return (
        "| process | wall | waited for idle | load (1 min) at start | its CPU (cores) |"
        " others' CPU (cores) | steal (cores) |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + f"\n\nOther processes used {med(others):.2f} cores (median), at most"
        f" {max(others, default=0.0):.2f}, while the measured processes ran."
    )


def profiles(v: ReportData) -> list[str]:
    """One block per profiled extra run: the hotspots table and the top functions."""
    found: list[tuple[str, dict[str, Any]]] = []
    for storage in v.storages:
        for child in v.children("backfill", storage).get(v.o.workers, []):
            for run in child["runs"]:
                if run.get("profile"):
                    kind = "cold" if "cold" in run["label"] else "warm"
                    title = (
                        f"Single-run backfill, {STORAGE_NAMES[storage]}, W={v.o.workers},"
                        f" {v.o.parts} partitions, {kind} ({fmt(run['seconds'])} under the"
                        " profiler)"
                    )
                    found.append((title, run["profile"]))
    for child in v.d.get("perpart", []):
        if child.get("profile"):
            found.append(("One warm per-partition run", child["profile"]))
    return [_profile_block(title, profile) for title, profile in found]


def _profile_block(title: str, profile: dict[str, Any]) -> str:
    rows = [
        f"| {label} | {calls} | {fmt(cumulative)} | {fmt(own)} |"
        for label, calls, cumulative, own in profile["hotspots"]
    ]
    return (
        f"### {title}\n\n"
        "| where (parent process) | calls | cumulative | own |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n<details><summary>top functions</summary>\n\n```\n"
        + trim_profile(profile["text"])
        + "\n```\n\n</details>\n"
    )
