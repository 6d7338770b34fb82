"""A sensor's partition requests applied to an instance, as the daemon applies them."""

from __future__ import annotations

from typing import Any

from dagster import AddDynamicPartitionsRequest, DagsterInstance, SensorResult


def apply_partition_requests(instance: DagsterInstance, result: Any) -> SensorResult:
    """Add and delete what ``result`` (a ``SensorResult``) asks for; the result."""
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests:
        if isinstance(request, AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result
