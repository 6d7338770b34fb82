"""The command line: ``python -m benchmarks [OPTIONS]`` (see the package docstring).

The hidden ``--child SCENARIO --child-spec SPEC --child-out OUT`` options are how the parent
starts each scenario in a fresh process (``launcher.Launcher.child``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from benchmarks.harness import run_all, work_directory
from benchmarks.measure import BenchmarkError
from benchmarks.options import SCENARIOS, STORAGES, Options
from benchmarks.postgres import hide_password
from benchmarks.report import Report, write_report
from benchmarks.scenarios import CHILDREN, child_main

PROG = "python -m benchmarks"
DEFAULT_OUTPUT = Path(__file__).resolve().with_name("results.md")


def _int(name: str, help: str | None = None, default: int | None = None) -> Any:
    return click.option(name, type=int, default=default, metavar=_metavar(name), help=help)


def _float(name: str, default: float | None, help: str) -> Any:
    return click.option(name, type=float, default=default, metavar=_metavar(name), help=help)


def _path(name: str, default: Path | None, help: str | None, hidden: bool = False) -> Any:
    path = click.Path(path_type=Path)
    return click.option(
        name, type=path, default=default, metavar=_metavar(name), help=help, hidden=hidden
    )


def _metavar(name: str) -> str:
    return name.lstrip("-").replace("-", "_").upper()


@click.command(
    help="Benchmark the engine floor against Dagster orchestration (see docstring).",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@_int("--parts", "N parts (default 100)")
@_int("--events", "events per part (100,000)")
@_int("--repeats", "fresh processes per scenario")
@_int("--workers", "W (cores)", default=os.cpu_count() or 1)
@_int("--seed", default=7)
@_int("--many", "synthetic partitions (10,000)")
@_int("--cli-sample", "fresh CLI runs (3)")
@_int("--large-events", "large part (1,100,000)")
@click.option(
    "--quick",
    is_flag=True,
    help="smoke run: 4 parts x 20,000 events, 1 repeat, 300 synthetic partitions",
)
@_path(
    "--cache-dir",
    Path(tempfile.gettempdir()) / "trading-runtime-bench",
    "generated parts, reused by spec",
)
@_path("--output", None, "results markdown file")
@_float("--child-timeout", 1800.0, "per child process")
@_float("--task-timeout", 600.0, "per backtest")
@_float(
    "--wait-idle",
    None,
    "before each measured process, wait up to this many seconds for a quiet machine"
    " (default 15, --quick 0)",
)
@click.option("--no-profile", is_flag=True, help="skip the profiled extra runs")
@click.option(
    "--only",
    default=",".join(SCENARIOS),
    metavar="ONLY",
    help=f"comma list of {', '.join(SCENARIOS)}",
)
@click.option(
    "--storages",
    default=",".join(STORAGES),
    metavar="STORAGES",
    help="instance storages of the backfill (2): comma list of sqlite, postgres (default both;"
    " postgres on a throw-away server, scripts/postgres-test-server.sh)",
)
@click.option(
    "--postgres-url",
    default=None,
    metavar="URL",
    help="use this PostgreSQL server (a role that may create databases) instead of starting"
    " a throw-away one",
)
@click.option("--keep-work", is_flag=True, help="keep the work directory")
@click.option("--child", type=click.Choice(sorted(CHILDREN)), hidden=True)
@_path("--child-spec", None, None, hidden=True)
@_path("--child-out", None, None, hidden=True)
@click.pass_context
def benchmark(ctx: click.Context, **params: Any) -> None:
    if params["child"]:
        child_main(params["child"], params["child_spec"], params["child_out"])
        return
    argv = ctx.obj["argv"] if isinstance(ctx.obj, dict) else sys.argv[1:]
    ctx.exit(run_benchmark(build_options(params, argv)))


def build_options(params: dict[str, Any], argv: Sequence[str]) -> Options:
    """The options of a run: ``--quick`` picks the smoke-run size where a value is not given."""
    quick = params["quick"]

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    only = {s.strip() for s in params["only"].split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        raise click.UsageError(f"--only: unknown scenario(s) {', '.join(sorted(unknown))}")
    storages = {s.strip() for s in params["storages"].split(",") if s.strip()}
    if not storages or storages - set(STORAGES):
        raise click.UsageError(f"--storages: a comma list of {', '.join(STORAGES)}")
    output = params["output"]
    wait_idle = params["wait_idle"]
    return Options(
        parts=pick(params["parts"], 100, 4),
        events=pick(params["events"], 100_000, 20_000),
        repeats=pick(params["repeats"], 3, 1),
        workers=max(1, params["workers"]),
        seed=params["seed"],
        many=pick(params["many"], 10_000, 300),
        cli_sample=pick(params["cli_sample"], 3, 1),
        large_events=pick(params["large_events"], 1_100_000, 200_000),
        cache_dir=params["cache_dir"],
        output=output if output is not None else (None if quick else DEFAULT_OUTPUT),
        child_timeout=params["child_timeout"],
        task_timeout=params["task_timeout"],
        wait_idle=wait_idle if wait_idle is not None else (0.0 if quick else 15.0),
        profile=not params["no_profile"],
        only=only,
        storages=tuple(s for s in STORAGES if s in storages),
        postgres_url=params["postgres_url"],
        keep_work=params["keep_work"],
        quick=quick,
        command=hide_password(f"{PROG} " + " ".join(argv)),
    )


def run_benchmark(options: Options) -> int:
    """Run the scenarios, print the report and write it to ``options.output``; the exit code."""
    started = time.perf_counter()
    print(
        f"benchmark: {options.parts} parts x {options.events:,} events, W={options.workers},"
        f" {options.repeats} repeat(s); scenarios {', '.join(sorted(options.only))};"
        f" storages {', '.join(options.storages)}"
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


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` (default: the process's arguments), run, and exit with the run's code."""
    args = list(sys.argv[1:] if argv is None else argv)
    benchmark.main(args=args, prog_name=PROG, obj={"argv": args})
