"""A sweep backtested at scale, on demand: ``python -m benchmarks.sweep_backfill [--variants 20]
[--parts 500] [--events 10000] [--storages sqlite,postgres]`` (issue 21, item 5).

Every partition of a sweep (variants x parts: 10,000 by default) backtested as a user runs it,
``trading-runtime materialize --single-run --sweep FILE`` in a fresh process on a fresh instance
(its parts validated in one run, every part x variant backtested in one run with its chart,
metadata, publishing and checks, then the aggregate and the leaderboard), against the engine
floor: ``backtest_tasks(chart=False)`` of every variant over the parts in one fresh process
(the engine port alone: pool start, compilation once per worker, validation in the worker, the
engine, the record, curve and metrics). Both sides are cold (a fresh process each), on the same
parts, one after the other; per storage (SQLite files; PostgreSQL, a throw-away server started
as the tests start it). The command's own output lines time its phases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.postgres import ServerUnavailable, create_database, dagster_yaml, throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 6 * 3600.0  # a hang guard: 10,000 partitions take tens of minutes here


def sweep_points(variants: int) -> list[dict[str, Any]]:
    """``variants`` distinct points of the example market maker (a sweep file's list form)."""
    return [
        {
            "strategy.quote_offset_ticks": i % 5,
            "strategy.order_qty": round(0.05 + 0.01 * (i // 5), 4),
        }
        for i in range(variants)
    ]


def floor_child(spec_path: Path) -> None:
    """The engine floor over every variant, in this (fresh) process; prints its seconds."""
    from trading_runtime.backtest.fan_out import BacktestTask, backtest_tasks
    from trading_runtime.config import apply_overrides, example_config_path, load_config
    from trading_runtime.sweeps import load_sweep_file, plan_variants

    spec = json.loads(spec_path.read_text())
    config = load_config(example_config_path("hftbacktest"))
    variants = plan_variants(config, load_sweep_file(Path(spec["sweep"])))
    parts = sorted(Path(spec["parts"]).glob("part-*.npz"))
    out = Path(spec["out"])
    started = time.perf_counter()
    failed = 0
    for variant in variants:
        effective = apply_overrides(config, variant.overrides)
        tasks = [BacktestTask(p.stem, p, out / variant.id / p.stem) for p in parts]
        outcomes = backtest_tasks(effective, tasks, workers=spec["workers"], chart=False)
        failed += sum(isinstance(o, Exception) for o in outcomes.values())
    print(json.dumps({"seconds": time.perf_counter() - started, "failed": failed}))


def _floor(work: Path, sweep: Path, parts: Path, workers: int) -> dict[str, Any]:
    spec = work / "floor.json"
    spec.write_text(
        json.dumps(
            {
                "sweep": str(sweep),
                "parts": str(parts),
                "workers": workers,
                "out": str(work / "floor"),
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep_backfill", "--floor-child", str(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


_PHASES = (  # (name, the output line that ends it)
    ("register, plan, validate the parts (one run)", "backtesting "),
    ("backtest every partition (single run)", "aggregating"),
    ("aggregate and leaderboard", "results: "),
)


def _materialize(
    work: Path, sweep: Path, parts: Path, workers: int, url: str | None
) -> dict[str, Any]:
    """``trading-runtime materialize --single-run --sweep`` on a fresh home; its phases."""
    home = work / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml(url))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts),
        "TRADING_RUNTIME_RESULTS": str(work / "results"),
        "TRADING_RUNTIME_SWEEPS_DIR": str(work / "sweeps"),
        "TRADING_RUNTIME_WORKERS": str(workers),
        "TRADING_RUNTIME_ENGINE_SERVICE": "off",
    }
    command = [
        sys.executable,
        "-m",
        "trading_runtime",
        "materialize",
        "--single-run",
        "--sweep",
        str(sweep),
    ]
    started = time.perf_counter()
    marks: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            for name, prefix in _PHASES:
                if line.startswith(prefix) and name not in marks:
                    marks[name] = time.perf_counter() - started
        code = process.wait(timeout=RUN_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"materialize exited {code}:\n" + "\n".join(lines[-20:]))
    phases, previous = {}, 0.0
    for name, _ in _PHASES:
        phases[name] = marks.get(name, seconds) - previous
        previous = marks.get(name, seconds)
    return {"seconds": seconds, "phases": phases}


def _report(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    partitions = args.variants * args.parts
    out = [
        f"{args.variants} variants x {args.parts} parts = {partitions:,} partitions,"
        f" {args.events:,} events a part, W = {args.workers}; both sides cold (fresh processes).",
        "",
        "| storage | floor s | materialize s | ÷ floor | (materialize - floor) / partition |"
        " backtest phase ÷ floor | validation phase | backtest phase | aggregate + leaderboard |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            out.append(f"| {row['storage']} | not measured: {row['error']} |")
            continue
        floor, run = row["floor"]["seconds"], row["materialize"]["seconds"]
        phases = list(row["materialize"]["phases"].values())
        out.append(
            f"| {row['storage']} | {floor:.1f} | {run:.1f} | {run / floor:.2f} |"
            f" {(run - floor) / partitions:.4f} s | {phases[1] / floor:.2f} |"
            f" {phases[0]:.1f} s | {phases[1]:.1f} s | {phases[2]:.1f} s |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--parts", type=int, default=500)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--storages", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--floor-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child is not None:
        floor_child(args.floor_child)
        return
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sweep-backfill-") as scratch:
        work = Path(scratch)
        parts = work / "parts"
        generate_parts(GeneratorSpec(parts=args.parts, events=args.events, seed=args.seed), parts)
        sweep = work / "grid.json"
        sweep.write_text(json.dumps(sweep_points(args.variants)))
        for storage in args.storages.split(","):
            run_dir = work / storage
            run_dir.mkdir()
            print(f"{storage}: floor ...", flush=True)
            floor = _floor(run_dir, sweep, parts, args.workers)
            print(f"{storage}: floor {floor['seconds']:.1f} s; materialize ...", flush=True)
            try:
                if storage == "postgres":
                    with throwaway_postgres() as server:
                        url = create_database(server.admin_url, "sweep_backfill")
                        run = _materialize(run_dir, sweep, parts, args.workers, url)
                else:
                    run = _materialize(run_dir, sweep, parts, args.workers, None)
            except ServerUnavailable as exc:
                rows.append({"storage": storage, "error": str(exc)})
                continue
            print(f"{storage}: materialize {run['seconds']:.1f} s", flush=True)
            rows.append({"storage": storage, "floor": floor, "materialize": run})
    print(_report(args, rows))


if __name__ == "__main__":
    main()
