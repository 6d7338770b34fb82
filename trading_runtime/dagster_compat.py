"""Every use of Dagster's private API (``dagster._…``), in one place.

Dagster is pinned to 1.13.x (pyproject). Each use says why there is no public way, and which test
fails if a Dagster release moves it. Nothing else in the project, tests and benchmark included,
imports ``dagster._…``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext

# For tests only: what K8sRunLauncher and the k8s_job_executor build pods from, constructed offline
# by tests/test_k8s.py to validate the Job manifests without a cluster (dagster-k8s builds them
# inside launch_run/execute from these private types). Each is guarded by the test using it:
# - process_config/validate_config/resolve_to_config_type: check a run launcher's or storage's
#   config as the instance does when it loads dagster.yaml (no public validator of a configurable
#   class's config);
# - JobPythonOrigin/RepositoryPythonOrigin/ModuleCodePointer: the origin a run gets from the
#   image's code server (built by the gRPC server otherwise);
# - ExecuteRunArgs/ExecuteStepArgs: the run and step pods' command lines;
# - LaunchRunContext: what the instance passes launch_run;
# - create_execution_plan: a job's steps and their tags (the step pod's resources);
# - dagster_instance_config/ConfigurableClassData/ComputeLogManager: load k8s/dagster.yaml and
#   rehydrate the compute log manager it names.
from dagster._config import process_config, resolve_to_config_type, validate_config
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.execution.api import create_execution_plan
from dagster._core.instance.config import dagster_instance_config
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.compute_log_manager import ComputeLogManager

# Run tags of a single-run backfill over a range of partitions. ``execute_in_process`` takes one
# ``partition_key`` only; the UI's and the daemon's backfills set these tags. Guarded by
# tests/test_dagster.py (single-run backfills) and tests/test_cli.py (materialize --single-run).
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
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
