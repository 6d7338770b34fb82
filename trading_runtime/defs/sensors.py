"""Register part files as partitions."""

from dagster import (
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from trading_runtime.defs.partitions import part_partitions, unregistered_part_keys
from trading_runtime.defs.resources import PartsDirectory

__all__ = ["register_part_files"]


@sensor(
    name="register_part_files",
    description="Adds a partition for every new .npz part file in the parts directory.",
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def register_part_files(
    context: SensorEvaluationContext, parts_dir: PartsDirectory
) -> SensorResult | SkipReason:
    new_keys = unregistered_part_keys(context.instance, parts_dir.partition_keys())
    if not new_keys:
        return SkipReason(f"no new part files in {parts_dir.path}")
    context.log.info(f"registering {len(new_keys)} new part(s): {', '.join(new_keys[:10])}")
    return SensorResult(dynamic_partitions_requests=[part_partitions.build_add_request(new_keys)])
