"""Child scenario 3: per-partition runs, (a) in one process and (b) as fresh CLI processes."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError, clean_env, memory_mb, run_logged
from benchmarks.scenarios.common import (
    Spec,
    close_worker_pools,
    failure_text,
    fresh_instance,
    materialization_walls,
    run_breakdown,
)
from benchmarks.scenarios.profiling import profile_call


def child_perpart(spec: Spec) -> dict[str, Any]:
    """N runs of one partition each in one process, as `trading-runtime materialize` does."""
    from trading_runtime.defs import build_definitions
    from trading_runtime.runs.instance import register_parts
    from trading_runtime.runs.launch import run_partition
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
    register_parts(instance, keys)
    validate, job = defs.resolve_job_def("validate_parts"), defs.resolve_job_def("backtest_parts")

    def one(key: str) -> Any:
        # As `materialize` does per partition: the part validated, then its backtest (base).
        validated = run_partition(validate, instance, key)
        if not validated.success:
            return validated
        return run_partition(job, instance, f"{key}|base")

    runs = [_timed_partition_run(one, instance, key) for key in keys]
    profile_text: dict[str, Any] | None = None
    if spec.get("profile"):
        _, profile_text = profile_call(lambda: one(keys[0]))
    instance.dispose()
    close_worker_pools()
    shutil.rmtree(work / "results-perpart", ignore_errors=True)
    return {"runs": runs, "profile": profile_text, "memory": memory_mb()}


def _timed_partition_run(one: Any, instance: Any, key: str) -> dict[str, Any]:
    """Run one partition with ``one(key)``: its wall, backtest wall_time_s and step breakdown."""
    started = time.perf_counter()
    result = one(key)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise BenchmarkError(f"partition {key} failed: {failure_text(result)}")
    wall = materialization_walls(result)[key]
    breakdown = run_breakdown(instance, result.run_id)
    return {"key": key, "seconds": elapsed, "wall": wall, "breakdown": breakdown}


def child_cli(spec: Spec) -> dict[str, Any]:
    """Fresh `dagster asset materialize` processes, one partition each."""
    work, keys = Path(spec["work"]), list(spec["keys"])
    home = work / "home-cli"
    from trading_runtime.runs.instance import register_parts

    instance = fresh_instance(home)
    register_parts(instance, keys)
    instance.dispose()
    launches = _launch_cli_runs(spec, work, home)
    instance = fresh_instance(home)
    runs = [_cli_run_record(instance, launch) for launch in launches]
    instance.dispose()
    return {"runs": runs, "memory": memory_mb()}


def _launch_cli_runs(spec: Spec, work: Path, home: Path) -> list[dict[str, Any]]:
    """One ``dagster asset materialize`` process per sample key, one after the other."""
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
        command += ["--partition", f"{key}|base", "-m", "trading_runtime.definitions"]
        launched = time.time()
        elapsed = run_logged(
            command, env=env, cwd=work, timeout=spec["timeout_s"], log_path=work / "cli.log"
        )
        launches.append({"key": key, "seconds": elapsed, "launched": launched})
    return launches


def _cli_run_record(instance: Any, launch: dict[str, Any]) -> dict[str, Any]:
    """A CLI launch with its run's backtest wall_time_s and event-log breakdown."""
    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=AssetKey("backtest_results"), asset_partitions=[f"{launch['key']}|base"]
        ),
        limit=1,
    ).records
    if not records:
        raise BenchmarkError(f"no materialization of {launch['key']} after the CLI run")
    record = records[0]
    metadata = record.asset_materialization.metadata
    breakdown = run_breakdown(instance, record.run_id)
    wall = float(metadata["wall_time_s"].value) + float(metadata["startup_s"].value)
    return {**launch, "wall": wall, **breakdown}
