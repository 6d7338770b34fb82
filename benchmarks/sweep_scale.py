"""Sweeps at scale, on demand: ``python -m benchmarks.sweep_scale [--variants 20] [--parts 500]``.

What issue 18 asks of a sweep of 20 variants x 500 parts (10,000 partitions), measured without
running 10,000 backtests (one real backtest; its result hard-linked into every cell, with
seeded per-cell PnL written into each ``result.json`` so the ranking is not degenerate):

1. definitions load, and what the UI's partitions page of ``backtest_results`` reads: every
   part x variant key of the multi-partitions definition and Dagster's status per key, in this
   process and as the page's GraphQL query to a `dagster-webserver` on loopback;
2. the leaderboard (``sweeps.ranking.rank_variants``: load every result.json, rank, PBO, DSR,
   walk-forward, write the table and three pictures) over 10,000 results, its time (imports
   and matplotlib's first figure paid before, by a tiny sweep) and, in a second call under
   tracemalloc, its Python heap peak; the peak again at a fifth of the parts;
3. a sweep over Dagster's comfort limit refused with its message.

Backfilling the 10,000 partitions against the engine floor is the benchmark proper's
(``python -m benchmarks``; issue 21).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE, STATS_FILE

GRID = {
    "strategy.quote_offset_ticks": {"start": 0, "stop": 4, "step": 1},
    "strategy.order_qty": [0.05, 0.1, 0.125, 0.15],
}


def _sample_result(work: Path) -> Path:
    """One real backtest of a small generated part: the result every cell links to."""
    from trading_runtime.backtest.fan_out import backtest_part
    from trading_runtime.backtest.pool import close_shared_pools
    from trading_runtime.config import example_config_path, load_config
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    (part,) = generate_parts(GeneratorSpec(parts=1, events=20_000, seed=7), work / "parts")
    sample = work / "sample"
    config = load_config(example_config_path("hftbacktest"))
    backtest_part(config, part, sample, timeout_s=300)
    close_shared_pools()
    return sample


def _write_cells(results: Path, sample: Path, variants: list[Any], parts: list[str]) -> None:
    document = json.loads((sample / RESULT_FILE).read_text())
    rng = np.random.default_rng(18)
    for variant in variants:
        edge = rng.normal(0.0, 0.5)  # some variants better than others, all noisy
        for part in parts:
            target = results / variant.id / "backtest_results" / part
            target.mkdir(parents=True)
            for name in (CURVE_FILE, STATS_FILE, CHART_FILE):
                if (sample / name).exists():
                    os.link(sample / name, target / name)
            cell = json.loads(json.dumps(document))
            cell["provenance"]["part"] = part
            cell["metrics"]["pnl"] = float(edge + rng.normal(0.0, 2.0))
            (target / RESULT_FILE).write_text(json.dumps(cell, sort_keys=True))


def _leaderboard(results: Path, config: Any, variants: list[Any]) -> tuple[float, float]:
    """Seconds of one ``rank_variants`` over ``results``, and the Python heap's peak (MiB) of
    another one under tracemalloc (which slows Python several times: never both at once)."""
    from trading_runtime.sweeps.ranking import rank_variants

    started = time.perf_counter()
    ranked = rank_variants(results, config, variants)
    elapsed = time.perf_counter() - started
    if ranked is None or ranked.stored.stored == 0:
        raise RuntimeError(f"no results ranked under {results}")
    del ranked
    tracemalloc.start()
    rank_variants(results, config, variants)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20


def _definitions_and_partitions(
    work: Path, variants: list[Any], parts: list[str]
) -> dict[str, float]:
    from dagster import AssetKey, DagsterInstance

    from trading_runtime.defs import build_definitions
    from trading_runtime.defs.partitions import VARIANTS_PARTITIONS, result_partitions
    from trading_runtime.runs.instance import register_parts
    from trading_runtime.settings import RuntimeSettings

    home = work / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    instance = DagsterInstance.from_config(str(home))
    register_parts(instance, parts)
    instance.add_dynamic_partitions(VARIANTS_PARTITIONS, [v.key for v in variants])
    timings: dict[str, float] = {}
    started = time.perf_counter()
    build_definitions(RuntimeSettings(parts_dir=str(work / "parts"), results=str(work / "r")))
    timings["definitions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    keys = result_partitions.get_partition_keys(dynamic_partitions_store=instance)
    timings["partition_keys_s"] = time.perf_counter() - started
    started = time.perf_counter()
    instance.get_status_by_partition(AssetKey("backtest_results"), keys, result_partitions)
    timings["status_by_partition_s"] = time.perf_counter() - started
    timings["partitions"] = float(len(keys))
    instance.dispose()
    timings["page_first_s"], timings["page_second_s"] = _partitions_page(work, home)
    return timings


PARTITIONS_PAGE = """
query Partitions { assetNodeOrError(assetKey: {path: ["backtest_results"]}) { ... on AssetNode {
  partitionKeysByDimension { name partitionKeys }
  assetPartitionStatuses { __typename ... on MultiPartitionStatuses {
    primaryDimensionName ranges { primaryDimStartKey primaryDimEndKey } } } } } }
"""


def _post(port: int, query: str) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        document: dict[str, Any] = json.loads(response.read())
    if document.get("errors"):
        raise RuntimeError(f"GraphQL errors: {document['errors']}")
    return document


def _partitions_page(work: Path, home: Path) -> tuple[float, float]:
    """Seconds of the partitions page's query, first and second time, from a webserver on
    loopback (started and stopped here, its whole process group)."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(work / "parts"),
        "TRADING_RUNTIME_AUTOMATION": "off",
    }
    webserver = Path(sys.executable).with_name("dagster-webserver")
    command = [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-m"]
    with open(work / "webserver.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "trading_runtime.definitions"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:  # bounded: the server answers, or it exited, or the deadline passed
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"webserver not serving; see {work / 'webserver.log'}")
            try:
                _post(port, "{ version }")
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        times = []
        for _ in range(2):
            started = time.perf_counter()
            _post(port, PARTITIONS_PAGE)
            times.append(time.perf_counter() - started)
        return times[0], times[1]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20, help="at most 20 (the grid's)")
    parser.add_argument("--parts", type=int, default=500)
    args = parser.parse_args()

    from trading_runtime.config import example_config_path, load_config
    from trading_runtime.sweeps import (
        MAX_PARTITIONS,
        SweepError,
        check_partition_budget,
        parse_sweep,
    )
    from trading_runtime.sweeps.planning import plan_variants

    config = load_config(example_config_path("hftbacktest"))
    variants = list(plan_variants(config, parse_sweep(GRID, "scale-grid")))[: args.variants]
    parts = [f"part-{i:05d}" for i in range(args.parts)]
    small = parts[: max(2, args.parts // 5)]
    work = Path(tempfile.mkdtemp(prefix="sweep-scale-"))
    try:
        sample = _sample_result(work)
        _write_cells(work / "results", sample, variants, parts)
        _write_cells(work / "results-small", sample, variants, small)
        # Imports and matplotlib's first figure outside the measurements: a tiny sweep first.
        _leaderboard(work / "results-small", config, variants[:2])
        big_s, big_mb = _leaderboard(work / "results", config, variants)
        _, small_mb = _leaderboard(work / "results-small", config, variants)
        dagster = _definitions_and_partitions(work, variants, parts)
        over = MAX_PARTITIONS // args.parts + 1  # variants that would pass the limit
        try:
            check_partition_budget(over, args.parts)
            refused = "not refused"
        except SweepError as exc:
            refused = str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cells, few = len(variants) * len(parts), len(variants) * len(small)
    print(f"| measure ({len(variants)} variants x {len(parts)} parts) | value | target |")
    print("|---|---|---|")
    print(f"| definitions load | {dagster['definitions_s']:.2f} s | ≤ 3 s |")
    print(
        f"| {int(dagster['partitions']):,} partition keys listed + their status"
        f" (the partitions page's reads) | {dagster['partition_keys_s']:.2f} s +"
        f" {dagster['status_by_partition_s']:.2f} s | ≤ 3 s |"
    )
    print(
        f"| the partitions page's GraphQL query (first, second) | {dagster['page_first_s']:.2f} s,"
        f" {dagster['page_second_s']:.2f} s | ≤ 3 s |"
    )
    print(f"| leaderboard over {cells:,} results | {big_s:.2f} s | ≤ 10 s |")
    print(
        f"| leaderboard heap peak: {cells:,} vs {few:,} results | {big_mb:.1f} MiB vs"
        f" {small_mb:.1f} MiB ({big_mb / small_mb:.2f}x for {cells / few:.0f}x the parts) |"
        " flat in the parts |"
    )
    print(f"| {over:,} variants x {len(parts)} parts | refused: {refused} | refused |")


if __name__ == "__main__":
    main()
