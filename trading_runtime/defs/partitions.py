"""Partitions: one per part file, registered at run time (see sensors.py)."""

from dagster import DynamicPartitionsDefinition

# Dynamic so a part dropped into the parts directory becomes a partition with no code change.
# A parameter sweep later becomes a second dimension: MultiPartitionsDefinition(part x sweep).
PARTS_PARTITIONS = "parts"
part_partitions = DynamicPartitionsDefinition(name=PARTS_PARTITIONS)
