"""Child scenarios 4-5 set-up and 4: ``many`` synthetic stored results, the aggregate over them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, memory_mb, reset_hwm
from benchmarks.scenarios.common import (
    Spec,
    close_worker_pools,
    failure_text,
    fresh_instance,
    run_breakdown,
)
from trading_runtime.layout import (
    CHART_FILE,
    CURVE_FILE,
    RESULT_FILE,
    RESULTS_DIR,
    STATS_FILE,
    part_file_name,
)


def child_prepare_many(spec: Spec) -> dict[str, Any]:
    """``many`` stored results (1x and 10x curves) and an instance with them registered."""
    work = Path(spec["work"])
    sample = Path(spec["sample"])
    timings: dict[str, float] = {}
    if not (sample / RESULT_FILE).is_file():  # no floor run kept one: make one
        timings["sample_backtest_s"] = _sample_backtest(spec, sample)
    big = work / "sample-10x"
    big.mkdir(exist_ok=True)
    curve_rows = _write_10x_sample(sample, big)
    document = json.loads((sample / RESULT_FILE).read_text())
    width = max(5, len(str(spec["many"] - 1)))
    keys = [f"part-{i:0{width}d}" for i in range(spec["many"])]
    started = time.perf_counter()
    for base, source in ((Path(spec["results"]), sample), (Path(spec["results_big"]), big)):
        _write_results(base / RESULTS_DIR, source, _listing(document, source), keys)
    timings["write_results_s"] = time.perf_counter() - started
    _link_parts(Path(spec["parts_many"]), Path(spec["part"]), keys)
    timings.update(_register_many(Path(spec["home"]), keys, document))
    return {
        "timings": timings,
        "curve_rows": [curve_rows, curve_rows * 10],
        "curve_bytes": [
            (sample / CURVE_FILE).stat().st_size,
            (big / CURVE_FILE).stat().st_size,
        ],
        "memory": memory_mb(),
    }


def _sample_backtest(spec: Spec, sample: Path) -> float:
    """Backtest one part into ``sample`` (when no floor run kept a result); its seconds."""
    from trading_runtime.backtest.fan_out import backtest_part
    from trading_runtime.config import example_config_path, load_config

    started = time.perf_counter()
    config = load_config(example_config_path("hftbacktest"))
    backtest_part(config, Path(spec["part"]), sample, timeout_s=spec["timeout_s"])
    close_worker_pools()
    return time.perf_counter() - started


def _write_10x_sample(sample: Path, big: Path) -> int:
    """The sample result with its curve and record repeated 10x, into ``big``; the curve rows of
    the sample."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trading_runtime.data.npz import write_npz_deterministic

    curve = pq.read_table(sample / CURVE_FILE)
    pq.write_table(
        pa.concat_tables([curve] * 10),
        big / CURVE_FILE,
        compression="zstd",
        use_dictionary=False,
        write_statistics=True,
    )
    with np.load(sample / STATS_FILE) as archive:
        record = archive["0"]
    write_npz_deterministic(big / STATS_FILE, {"0": np.concatenate([record] * 10)})
    # The sample's chart, as result.json lists it: a view, which the aggregate only reads.
    if (sample / CHART_FILE).exists() and not (big / CHART_FILE).exists():
        os.link(sample / CHART_FILE, big / CHART_FILE)
    return int(curve.num_rows)


def _listing(document: dict[str, Any], source: Path) -> dict[str, Any]:
    """``document`` listing the sha256 of ``source``'s own files: the aggregate checks every
    stored file against result.json, and the 10x sample's curve and record are other bytes."""
    from trading_runtime.results.result import file_sha256

    files = dict(document["provenance"].get("files", {}))
    for name in files:
        files[name] = file_sha256(source / name) or files[name]
    return {**document, "provenance": {**document["provenance"], "files": files}}


def _link_parts(parts_dir: Path, part: Path, keys: list[str]) -> None:
    """A part file per key (hard links of one part): the aggregate counts only results whose
    part file exists, as it does for real parts."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    for key in keys:
        os.link(part, parts_dir / part_file_name(key))


def _write_results(root: Path, source: Path, document: dict[str, Any], keys: list[str]) -> None:
    """One result directory per key under ``root``: the source's files (and chart) hard-linked,
    ``result.json`` rewritten with the key as its part."""
    for key in keys:
        target = root / key
        target.mkdir(parents=True)
        for name in (CURVE_FILE, STATS_FILE, CHART_FILE):
            if (source / name).exists():  # a result stored before charts has none
                os.link(source / name, target / name)
        document["provenance"]["part"] = key
        (target / RESULT_FILE).write_text(json.dumps(document, sort_keys=True, indent=1))


def _register_many(home: Path, keys: list[str], document: dict[str, Any]) -> dict[str, float]:
    """A fresh instance at ``home`` with the keys registered and a materialization event each."""
    from dagster import AssetMaterialization

    from trading_runtime.runs.instance import register_parts

    timings: dict[str, float] = {}
    instance = fresh_instance(home)
    started = time.perf_counter()
    register_parts(instance, keys)
    timings["register_partitions_s"] = time.perf_counter() - started
    started = time.perf_counter()
    metadata = {
        "content_hash": document["provenance"]["content_hash"],
        "wall_time_s": 0.04,
        "pnl": document["metrics"]["pnl"],
    }
    for key in keys:
        instance.report_runless_asset_event(
            AssetMaterialization("backtest_results", partition=f"{key}|base", metadata=metadata)
        )
    timings["materialization_events_s"] = time.perf_counter() - started
    instance.dispose()
    return timings


def child_aggregate(spec: Spec) -> dict[str, Any]:
    """The aggregate job over stored results, in a fresh process; time and RSS high-water."""
    import tracemalloc

    from trading_runtime.defs import build_definitions
    from trading_runtime.runs.instance import open_instance
    from trading_runtime.runs.launch import run_aggregate
    from trading_runtime.settings import RuntimeSettings

    os.environ["DAGSTER_HOME"] = spec["home"]
    instance = open_instance()
    settings = RuntimeSettings(parts_dir=spec["parts_dir"], results=spec["results"])
    defs = build_definitions(settings)
    job = defs.resolve_job_def("aggregate")

    def aggregate() -> Any:
        return run_aggregate(job, instance)

    hwm_reset = reset_hwm()
    before = memory_mb()
    started = time.perf_counter()
    result = aggregate()
    elapsed = time.perf_counter() - started
    after = memory_mb()
    _check_aggregate(result, spec["expect_parts"])
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


def _check_aggregate(result: Any, expect_parts: int) -> None:
    """Raise unless the aggregate run succeeded over ``expect_parts`` parts."""
    if not result.success:
        raise BenchmarkError(f"aggregate failed: {failure_text(result)}")
    parts = result.asset_materializations_for_node("aggregate_metrics")[0].metadata["parts"]
    if parts.value != expect_parts:
        raise BenchmarkError(f"aggregate saw {parts.value} parts, expected {expect_parts}")
