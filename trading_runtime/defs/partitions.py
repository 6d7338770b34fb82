"""Partitions: one per part file, registered when the file appears and removed when it goes
(see sensors.py; the CLI's main job does the same at its start); and for ``backtest_results``,
part x variant, a variant being the base config or one point of a sweep file
(``sweeps.registry``)."""

from collections.abc import Iterable, Sequence

from dagster import (
    DagsterInstance,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
)

from trading_runtime.sweeps.variants import BASE_VARIANT_KEY

__all__ = [
    "BASE_VARIANT_KEY",
    "PARTS_PARTITIONS",
    "PART_DIMENSION",
    "RAW_PARTITIONS",
    "VARIANTS_PARTITIONS",
    "VARIANT_DIMENSION",
    "add_dynamic_keys",
    "add_part_partitions",
    "part_partitions",
    "raw_partitions",
    "result_key",
    "result_partitions",
    "split_result_key",
    "unregistered_part_keys",
    "vanished_part_keys",
    "variant_partitions",
]

# Dynamic so a part dropped into the parts directory becomes a partition with no code change.
PARTS_PARTITIONS = "parts"
part_partitions = DynamicPartitionsDefinition(name=PARTS_PARTITIONS)
# One per raw group (a feed file, a Tardis symbol-day): ``raw_store.raw_group_key``.
RAW_PARTITIONS = "raw_market_data"
raw_partitions = DynamicPartitionsDefinition(name=RAW_PARTITIONS)
# One per variant: ``base`` (the configured backtest) and every sweep file's points.
VARIANTS_PARTITIONS = "variants"
variant_partitions = DynamicPartitionsDefinition(name=VARIANTS_PARTITIONS)
# Dagster orders dimensions by name: a key reads "<part>|<variant>", e.g. "part-00000|base".
PART_DIMENSION = "part"
VARIANT_DIMENSION = "variant"
result_partitions = MultiPartitionsDefinition(
    {PART_DIMENSION: part_partitions, VARIANT_DIMENSION: variant_partitions}
)


def result_key(part: str, variant: str) -> str:
    """The ``backtest_results`` partition key of a part and a variant."""
    return str(MultiPartitionKey({PART_DIMENSION: part, VARIANT_DIMENSION: variant}))


def split_result_key(key: str) -> tuple[str, str]:
    """(part, variant) of a ``backtest_results`` partition key."""
    if isinstance(key, MultiPartitionKey):
        by_dimension = key.keys_by_dimension
        return by_dimension[PART_DIMENSION], by_dimension[VARIANT_DIMENSION]
    part, separator, variant = key.partition("|")
    # An empty part is left to the part-name check, which names the problem.
    if not separator or not variant:
        raise ValueError(f"backtest_results partition {key!r} is not '<part>|<variant>'")
    return part, variant


# Tries of ``add_dynamic_keys``: each one after the first finds the keys the others added.
_ADD_TRIES = 3


def add_dynamic_keys(instance: DagsterInstance, name: str, keys: Sequence[str]) -> None:
    """``instance.add_dynamic_partitions``, safe when another process adds some of the same keys
    at the same moment (commands started at once on a fresh instance): Dagster reads which keys
    exist and then inserts the rest, so one of the two inserts of a key fails on the table's
    unique key. Tried again, it reads the other's keys and inserts only what is still missing."""
    from sqlalchemy.exc import IntegrityError

    for attempt in range(_ADD_TRIES):
        try:
            instance.add_dynamic_partitions(name, list(keys))
            return
        except IntegrityError:
            if attempt == _ADD_TRIES - 1:
                raise


def add_part_partitions(instance: DagsterInstance, keys: Sequence[str]) -> None:
    """Add ``keys`` as parts, with the ``base`` variant: every registered part then has a
    ``backtest_results`` partition (part x variant) to run."""
    if keys:
        add_dynamic_keys(instance, PARTS_PARTITIONS, keys)
    if not instance.has_dynamic_partition(VARIANTS_PARTITIONS, BASE_VARIANT_KEY):
        add_dynamic_keys(instance, VARIANTS_PARTITIONS, [BASE_VARIANT_KEY])


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
