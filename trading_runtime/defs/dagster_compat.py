"""Every use of Dagster's private API (``dagster._…``), in one place.

All of it was written against Dagster 1.13.27 (pyproject pins ``dagster>=1.13,<1.14``). Each use
says why there is no public way and which test fails if a Dagster release moves it. Nothing else in
the project, tests and benchmark included, imports ``dagster._…``. (k8s/dagster.yaml names
``dagster._core.storage.noop_compute_log_manager`` as Dagster's own instance docs do; guarded by
tests/test_k8s.py::test_plain_dagster_yaml_is_a_valid_instance_config.)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext

# Run tags of a single-run backfill over a range of partitions (Dagster 1.13.27).
# ``execute_in_process`` takes one ``partition_key`` only; the UI's and the daemon's backfills set
# these tags. Guarded by tests/test_dagster.py::test_single_run_backfill_matches_per_partition_runs
# and tests/test_cli.py (materialize --single-run).
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

if TYPE_CHECKING:
    from dagster._config import process_config, resolve_to_config_type, validate_config
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.execution.api import create_execution_plan
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.storage.compute_log_manager import ComputeLogManager
    from dagster._grpc.types import ExecuteRunArgs, ExecuteStepArgs
    from dagster._serdes import ConfigurableClassData

__all__ = [
    "ComputeLogManager",
    "ConfigurableClassData",
    "ExecuteRunArgs",
    "ExecuteStepArgs",
    "JobPythonOrigin",
    "LaunchRunContext",
    "ModuleCodePointer",
    "RepositoryPythonOrigin",
    "add_partition_metadata",
    "create_execution_plan",
    "dagster_instance_config",
    "partition_range_tags",
    "process_config",
    "repository_snapshot",
    "resolve_to_config_type",
    "validate_config",
]

# For tests only, imported on first use (production code never loads them): what K8sRunLauncher
# and the k8s_job_executor build pods from, which tests/test_k8s.py constructs offline to validate
# the Job manifests without a cluster (dagster-k8s builds them inside launch_run/execute).
# name -> (module in Dagster 1.13.27, why, the test in tests/test_k8s.py that guards it)
_TEST_ONLY: dict[str, tuple[str, str, str]] = {
    "process_config": (
        "dagster._config",
        "no public validator of a configurable class's config (the run launcher's)",
        "test_plain_run_launcher_config_is_valid_for_k8s_run_launcher",
    ),
    "resolve_to_config_type": (
        "dagster._config",
        "the config type process_config/validate_config take",
        "test_plain_run_launcher_config_is_valid_for_k8s_run_launcher",
    ),
    "validate_config": (
        "dagster._config",
        "checks a config without resolving env vars (unknown keys, Postgres storage)",
        "test_unknown_run_launcher_key_is_rejected, test_the_image_can_open_a_postgres_instance",
    ),
    "JobPythonOrigin": (
        "dagster._core.origin",
        "the origin a run gets from the image's code server (gRPC builds it otherwise)",
        "test_run_worker_job_for_one_partition_is_a_valid_kubernetes_job",
    ),
    "RepositoryPythonOrigin": (
        "dagster._core.origin",
        "part of the run's origin: image, entry point, container context",
        "test_launch_run_through_the_helm_setup",
    ),
    "ModuleCodePointer": (
        "dagster._core.code_pointer",
        "the code pointer `dagster api grpc -m trading_runtime.definitions` serves",
        "test_run_worker_job_for_one_partition_is_a_valid_kubernetes_job",
    ),
    "ExecuteRunArgs": (
        "dagster._grpc.types",
        "the run pod's command line, as K8sRunLauncher builds it",
        "test_run_worker_job_for_one_partition_is_a_valid_kubernetes_job",
    ),
    "ExecuteStepArgs": (
        "dagster._grpc.types",
        "a step pod's command line, as the k8s_job_executor builds it",
        "test_k8s_job_executor_puts_backtest_results_in_its_own_sized_pod",
    ),
    "LaunchRunContext": (
        "dagster._core.launcher",
        "what the instance passes K8sRunLauncher.launch_run",
        "test_launch_run_creates_the_run_worker_job",
    ),
    "create_execution_plan": (
        "dagster._core.execution.api",
        "a job's steps and their tags (the step pod's resources)",
        "test_k8s_job_executor_puts_backtest_results_in_its_own_sized_pod",
    ),
    "dagster_instance_config": (
        "dagster._core.instance.config",
        "loads and validates a dagster.yaml as the instance does",
        "test_plain_dagster_yaml_is_a_valid_instance_config",
    ),
    "ConfigurableClassData": (
        "dagster._serdes",
        "rehydrates the compute log manager dagster.yaml names",
        "test_plain_dagster_yaml_is_a_valid_instance_config",
    ),
    "ComputeLogManager": (
        "dagster._core.storage.compute_log_manager",
        "the type that rehydration checks against",
        "test_plain_dagster_yaml_is_a_valid_instance_config",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _TEST_ONLY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_TEST_ONLY[name][0]), name)


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make a run cover the partitions ``first``..``last`` (in registration order)."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def add_partition_metadata(
    context: AssetExecutionContext, metadata: Mapping[str, dict[str, Any]]
) -> None:
    """Metadata per partition of a multi-partition step.

    The public ``context.add_asset_metadata(partition_key=...)`` re-reads every dynamic partition
    key from storage on each call to check the key is in the run's range: O(N) per call, O(N^2)
    per run, 17 ms a call at 100 partitions on SQLite. The step's metadata accumulator (private:
    ``_step_execution_context._metadata_accumulator``), which that method feeds after its check,
    takes them all at once; the keys come from the run's own range, so the check adds nothing.
    The public method is the fallback should a release move it. Guarded by
    tests/test_dagster.py's single-run backfill test, which reads every partition's metadata.
    """
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator: Any = getattr(step, "_metadata_accumulator", None)
    if step is None or not hasattr(accumulator, "with_additional_asset_metadata"):
        for key, values in metadata.items():
            context.add_asset_metadata(values, partition_key=key)
        return
    for key, values in metadata.items():
        accumulator = accumulator.with_additional_asset_metadata(
            asset_key=context.asset_key, metadata=values, partition_key=key
        )
    step._metadata_accumulator = accumulator


def repository_snapshot(repository_def: Any) -> Any:
    """What a code server serves the UI for a repository (``defs.get_repository_def()``); the
    benchmark times building it. ``RepositorySnap`` is how ``dagster api grpc`` serialises a
    repository; there is no public builder. Guarded by the benchmark's definitions-load scenario
    (``make bench``)."""
    from dagster._core.remote_representation.external_data import RepositorySnap

    return RepositorySnap.from_def(repository_def)
