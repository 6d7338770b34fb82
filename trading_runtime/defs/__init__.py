"""Dagster shell: assets, partitions, resources, sensors, checks and jobs."""

from __future__ import annotations

from typing import Any

from dagster import Definitions, ExecutorDefinition, in_process_executor

from trading_runtime.config import ConfigError, load_config
from trading_runtime.defs.assets import make_backtest_results, parts
from trading_runtime.defs.automation import automation_sensor, with_automation
from trading_runtime.defs.checks import make_result_determinism_check, part_file_is_valid
from trading_runtime.defs.jobs import build_jobs
from trading_runtime.defs.latency_assets import make_order_latency
from trading_runtime.defs.raw_assets import make_raw_market_data, raw_code_version
from trading_runtime.defs.resources import build_resources
from trading_runtime.defs.sensors import make_register_raw_files, register_part_files
from trading_runtime.defs.summary_assets import aggregate_metrics, sweep_leaderboard
from trading_runtime.defs.sweep_sensors import register_sweep_files
from trading_runtime.freshness.code_version import result_code_version
from trading_runtime.settings import RuntimeSettings, load_settings

__all__ = ["backtest_pod_tags", "build_definitions", "select_executor"]


def build_definitions(settings: RuntimeSettings | None = None) -> Definitions:
    settings = settings or load_settings()
    snapshots = settings.raw_snapshots == "on"
    try:
        config = load_config(settings.config)
        code_version = result_code_version(config, settings.parts_dir)
        raw_version = raw_code_version(
            settings.raw_window, snapshots, config.engine.tick_size, config.engine.lot_size
        )
    except ConfigError:
        # Load the code location anyway; materializing reports the config error in full.
        code_version = raw_version = "invalid-config"
    pod_tags = backtest_pod_tags(settings)
    backtest_results = make_backtest_results(code_version, op_tags=pod_tags)
    raw_market_data = make_raw_market_data(raw_version)
    assets = [raw_market_data, parts, backtest_results, aggregate_metrics, sweep_leaderboard]
    # With step pods the run pod only coordinates: the default run pod resources suffice.
    jobs = build_jobs(backtest_run_tags=pod_tags if settings.executor == "in_process" else None)
    sensors: list[Any] = [
        register_part_files,
        register_sweep_files,
        make_register_raw_files(rerun_changed=settings.automation_enabled, jobs=jobs),
    ]
    if settings.automation_enabled:
        assets = with_automation(assets)
        sensors.append(automation_sensor())
    return Definitions(
        assets=[*assets, make_order_latency()],  # optional: outside automation
        asset_checks=[part_file_is_valid, make_result_determinism_check(backtest_results)],
        jobs=jobs,
        sensors=sensors,
        resources=build_resources(settings),
        executor=select_executor(settings),
    )


def backtest_pod_tags(settings: RuntimeSettings) -> dict[str, Any]:
    """On Kubernetes, the resources of the pod that runs backtests: dagster-k8s reads this tag
    from the job (the run pod, K8sRunLauncher) and from the op (a step pod, k8s_job_executor)."""
    if settings.is_local:
        return {}
    from dagster_k8s.job import USER_DEFINED_K8S_CONFIG_KEY

    resources = settings.backtest_pod_resources()
    return {USER_DEFINED_K8S_CONFIG_KEY: {"container_config": {"resources": resources}}}


def select_executor(settings: RuntimeSettings) -> ExecutorDefinition:
    if settings.executor == "k8s_job":
        # Opt-in: every step its own pod (image and secrets come from the run launcher).
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    # Steps are light; the worker pool inside a step gives the parallelism and keeps workers
    # warm, which a subprocess per step would throw away.
    return in_process_executor
