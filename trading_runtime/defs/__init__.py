"""Dagster shell: assets, partitions, resources, sensors, checks and jobs."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from trading_runtime.backtest import result_code_version
from trading_runtime.config import ConfigError, load_config
from trading_runtime.defs.assets import aggregate_metrics, make_backtest_results, parts
from trading_runtime.defs.checks import make_result_determinism_check, part_file_is_valid
from trading_runtime.defs.jobs import aggregate_job, backtest_parts_job
from trading_runtime.defs.resources import build_resources
from trading_runtime.defs.sensors import register_part_files
from trading_runtime.settings import RuntimeSettings, load_settings


def build_definitions(settings: RuntimeSettings | None = None) -> Definitions:
    settings = settings or load_settings()
    try:
        code_version = result_code_version(load_config(settings.config))
    except ConfigError:
        # Load the code location anyway; materializing reports the config error in full.
        code_version = "invalid-config"
    backtest_results = make_backtest_results(code_version)
    return Definitions(
        assets=[parts, backtest_results, aggregate_metrics],
        asset_checks=[part_file_is_valid, make_result_determinism_check(backtest_results)],
        jobs=[backtest_parts_job, aggregate_job],
        sensors=[register_part_files],
        resources=build_resources(settings),
        # Steps are light; the engine pool inside a step gives the parallelism and keeps workers
        # warm, which a subprocess per step would throw away.
        executor=in_process_executor,
    )
