"""Raw data conversion, on demand (issue 19, item 8): ``python -m benchmarks.conversion [--lines N]
[--repeats R] [--format binancefutures|tardis|bybit|all]``.

For each format, the same raw files (``benchmarks.raw_files``, the tests' generators at length)
three ways, each in a fresh child process, in a rotating order so that no side is always first:

- *floor*: hftbacktest's converter called directly, as its "Data Preparation" tutorial calls it
  (``binancefutures.convert(path)``, ``bybit.convert_depth(path)``, ``tardis.convert([trades,
  book])``), then ``np.savez_compressed`` of the array: the conversion and one part written,
  nothing else;
- *runtime*: ``ingest_raw`` as ``trading-runtime data ingest`` runs it, window none and no
  snapshots (the same work, plus the runtime's checks, lineage and deterministic part bytes);
- *runtime, 1h + snapshots*: the default window with the book carried over, to show its cost.

Each child first converts a small file of the same format (spanning more than an hour) the same
way, so numba's compiling is not timed; then the big one is timed (``perf_counter``, and the
child's CPU time, which a busy machine distorts less) from the call to the last file written.
Target: runtime / floor <= 1.10 in wall time (window none)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.measure import clean_env
from benchmarks.raw_files import write_raw

FORMATS = ("binancefutures", "bybit", "tardis")
SIDES = ("floor", "runtime", "runtime_1h_snapshots")
SIDE_LABELS = {
    "floor": "floor (converter + savez_compressed)",
    "runtime": "runtime (window none, no snapshots)",
    "runtime_1h_snapshots": "runtime (window 1h + snapshots)",
}
# About 2-5 s of conversion each on a 2-core machine; Tardis's CSV reader is ~20x faster.
DEFAULT_LINES = {"binancefutures": 250_000, "bybit": 200_000, "tardis": 2_000_000}
WARM_LINES = 11_200  # over an hour in every format: the warm-up also cuts a window
TARGET = 1.10
HOUR_NS = 3600 * 10**9
TICK_SIZE, LOT_SIZE = 0.1, 0.001  # the generators' prices and sizes
RESULT_PREFIX = "RESULT "


@dataclass(frozen=True)
class Row:
    raw_format: str
    side: str
    raw_lines: int
    events: int
    seconds: list[float]
    cpu_seconds: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_seconds)


def _floor(raw_format: str, paths: list[Path], out: Path) -> int:
    from hftbacktest.data.utils import binancefutures, bybit, tardis

    if raw_format == "binancefutures":
        data = binancefutures.convert(str(paths[0]))
    elif raw_format == "bybit":
        data = bybit.convert_depth(str(paths[0]))
    else:  # trades before the book, as tardis.convert's docstring asks
        trades = [p for p in paths if "_trades_" in p.name]
        book = [p for p in paths if "_trades_" not in p.name]
        data = tardis.convert([str(p) for p in trades + book])
    out.mkdir(parents=True)
    np.savez_compressed(out / "part.npz", data=data)
    return len(data)


def _runtime(raw_format: str, paths: list[Path], out: Path, windowed: bool) -> int:
    from trading_runtime.data.ingest.run import IngestSpec, ingest_raw

    if windowed:
        spec = IngestSpec(raw_format, HOUR_NS, True, TICK_SIZE, LOT_SIZE)
    else:
        spec = IngestSpec(raw_format)
    out.mkdir(parents=True)  # as the CLI does before ingest_raw
    report = ingest_raw(paths, spec, out)
    if report.errors:
        raise report.errors[0]
    return sum(int(part.lineage["n_events"]) for part in report.parts)


def _convert(side: str, raw_format: str, paths: list[Path], out: Path) -> int:
    if side == "floor":
        return _floor(raw_format, paths, out)
    return _runtime(raw_format, paths, out, windowed=side == "runtime_1h_snapshots")


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file())


def run_side(side: str, raw_format: str, work: Path) -> dict[str, float]:
    """Warm up on the small files, then time the big ones: ``{"seconds", "cpu_seconds",
    "events"}`` (this process's CPU time too: on a shared machine, wall time is mostly the
    other processes')."""
    scratch = work / "out" / f"{side}-{uuid.uuid4().hex}"
    try:
        _convert(side, raw_format, _files(work / "warm" / raw_format), scratch / "warm")
        start, cpu = time.perf_counter(), time.process_time()
        events = _convert(side, raw_format, _files(work / "raw" / raw_format), scratch / "big")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "events": events}


CHILD_S = 1800.0  # one side's conversions in a fresh process: a hang guard


def _in_child(side: str, raw_format: str, work: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.conversion", "--child", side]
    command += ["--format", raw_format, "--work", str(work)]
    # No TRADING_RUNTIME_* of the caller's (the ingest path reads the settings); bounded.
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=clean_env(), timeout=CHILD_S
    )
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode or not results:
        raise RuntimeError(f"{side} on {raw_format} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(results[-1][len(RESULT_PREFIX) :])
    return result


def measure(
    formats: list[str],
    lines: int | None,
    repeats: int,
    work: Path,
    fresh: bool = True,
    warm_lines: int = WARM_LINES,
) -> list[Row]:
    """Every side of every format, ``repeats`` times (fresh child processes unless ``fresh`` is
    False: then in this process, for the smoke test)."""
    rows = []
    for raw_format in formats:
        write_raw(raw_format, work / "warm" / raw_format, warm_lines)
        want = lines or DEFAULT_LINES[raw_format]
        _, raw_lines = write_raw(raw_format, work / "raw" / raw_format, want)
        seconds: dict[str, list[float]] = {side: [] for side in SIDES}
        cpu: dict[str, list[float]] = {side: [] for side in SIDES}
        events: dict[str, int] = {}
        for repeat in range(repeats):
            shift = repeat % len(SIDES)  # each side first, second and third in turn
            for side in SIDES[shift:] + SIDES[:shift]:
                run = _in_child if fresh else run_side
                result = run(side, raw_format, work)
                seconds[side].append(result["seconds"])
                cpu[side].append(result["cpu_seconds"])
                events[side] = int(result["events"])
        rows += [Row(raw_format, s, raw_lines, events[s], seconds[s], cpu[s]) for s in SIDES]
    return rows


def _rate(value: float) -> str:
    return f"{value / 1e6:.2f} M/s" if value >= 1e6 else f"{value / 1e3:.0f} k/s"


def _ratio(value: float, side: str) -> str:
    if side == "runtime":
        return f"{value:.3f} {'PASS' if value <= TARGET else 'FAIL'}"
    return f"{value:.3f}"  # windows and snapshots: their cost, no target


def table(rows: list[Row]) -> str:
    """The markdown table: per format the floor, then the runtime sides with runtime / floor
    in wall time (the target) and in CPU time (what a busy machine does not distort)."""
    out = [
        "| format | side | raw lines | events | wall s, median (min - max) | CPU s | raw lines/s"
        " | events/s | runtime / floor, wall | runtime / floor, CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    floors = {row.raw_format: row for row in rows if row.side == "floor"}
    for row in rows:
        spread = f"{row.median_s:.2f} ({min(row.seconds):.2f} - {max(row.seconds):.2f})"
        wall = cpu = ""
        if row.side != "floor":
            floor = floors[row.raw_format]
            wall = _ratio(row.median_s / floor.median_s, row.side)
            cpu = _ratio(row.median_cpu_s / floor.median_cpu_s, row.side)
        out.append(
            f"| {row.raw_format} | {SIDE_LABELS[row.side]} | {row.raw_lines:,} | {row.events:,}"
            f" | {spread} | {row.median_cpu_s:.2f} | {_rate(row.raw_lines / row.median_s)}"
            f" | {_rate(row.events / row.median_s)} | {wall} | {cpu} |"
        )
    return "\n".join(out)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conversion", description=__doc__)
    parser.add_argument("--lines", type=int, default=None, help="raw lines per format")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--format", choices=[*FORMATS, "all"], default="all")
    parser.add_argument("--work", type=Path, default=None, help="keep the files here")
    parser.add_argument("--child", choices=SIDES, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    if args.child:  # one timed side, its result as the last line of stdout
        result = run_side(args.child, args.format, args.work)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return
    formats = list(FORMATS) if args.format == "all" else [args.format]
    work = args.work or Path(tempfile.mkdtemp(prefix="conversion-bench-"))
    try:
        started = time.strftime("%Y-%m-%dT%H:%M:%S")
        rows = measure(formats, args.lines, args.repeats, work)
        print(f"Raw data conversion, {started}, {os.cpu_count()} cores, {args.repeats} repeat(s)")
        print("(medians of fresh child processes, numba warmed up in each; the floor is the")
        print("converter + np.savez_compressed; target runtime/floor <= 1.10, window none)\n")
        print(table(rows))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
