"""Partitions: one per part file, registered when the file appears and removed when it goes
(see sensors.py; the CLI's main job does the same at its start)."""

from collections.abc import Iterable

from dagster import DagsterInstance, DynamicPartitionsDefinition

__all__ = [
    "PARTS_PARTITIONS",
    "RAW_PARTITIONS",
    "part_partitions",
    "raw_partitions",
    "unregistered_part_keys",
    "vanished_part_keys",
]

# Dynamic so a part dropped into the parts directory becomes a partition with no code change.
PARTS_PARTITIONS = "parts"
part_partitions = DynamicPartitionsDefinition(name=PARTS_PARTITIONS)
# One per raw group (a feed file, a Tardis symbol-day): ``raw_store.raw_group_key``.
RAW_PARTITIONS = "raw_market_data"
raw_partitions = DynamicPartitionsDefinition(name=RAW_PARTITIONS)


def unregistered_part_keys(
    instance: DagsterInstance, keys: Iterable[str], name: str = PARTS_PARTITIONS
) -> list[str]:
    """The keys, in their order, that are not partitions (of ``name``) yet."""
    known = set(instance.get_dynamic_partitions(name))
    return [key for key in keys if key not in known]


def vanished_part_keys(
    instance: DagsterInstance, keys: Iterable[str], name: str = PARTS_PARTITIONS
) -> list[str]:
    """Partitions, in registration order, that are not among ``keys`` (the part files present
    with valid names): their file was deleted, renamed, or its name is refused."""
    present = set(keys)
    return [key for key in instance.get_dynamic_partitions(name) if key not in present]
