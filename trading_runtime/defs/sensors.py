"""Keep the partitions in step with the part files: add new ones, remove deleted ones, and report
files whose names are refused."""

import json

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from trading_runtime.data.parts_store import scan_parts
from trading_runtime.defs.partitions import (
    part_partitions,
    unregistered_part_keys,
    vanished_part_keys,
)
from trading_runtime.defs.resources import PartsDirectory
from trading_runtime.layout import PART_KEY_RULE

__all__ = ["register_part_files"]

# Names listed in a log line or skip reason; the rest are counted.
_SHOWN = 10


def _reported_refusals(cursor: str | None) -> set[str]:
    """Refused file names already reported by earlier ticks (the sensor's cursor)."""
    try:
        document = json.loads(cursor) if cursor else {}
        return set(document.get("refused", []))
    except (ValueError, AttributeError, TypeError):
        return set()  # a cursor from another version: report again, once


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


@sensor(
    name="register_part_files",
    description=(
        "Adds a partition for every new .npz part file in the parts directory, removes the"
        " partition of a deleted file (its stored result stays, reported as orphaned by"
        " aggregate_metrics), and reports once each file whose name is not a valid part name."
    ),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def register_part_files(
    context: SensorEvaluationContext, parts_dir: PartsDirectory
) -> SensorResult:
    listing = scan_parts(parts_dir.path)
    if not listing.found:
        # Never read a missing (unmounted, mistyped) directory as "every part was deleted".
        return SensorResult(
            skip_reason=f"parts directory {parts_dir.path} not found: partitions left as they are",
            cursor=context.cursor,
        )
    reported = _reported_refusals(context.cursor)
    newly_refused = sorted(set(listing.refused) - reported)
    notes = []
    for name in newly_refused:
        context.log.warning(f"refused part file {name}: {listing.refused[name]}")
    if newly_refused:
        notes.append(
            f"refused {len(newly_refused)} part file(s) in {parts_dir.path} (a part name has"
            f" {PART_KEY_RULE}): "
            + "; ".join(f"{name}: {listing.refused[name]}" for name in newly_refused[:_SHOWN])
        )
    new_keys = unregistered_part_keys(context.instance, listing.keys)
    gone_keys = vanished_part_keys(context.instance, listing.keys)
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if new_keys:
        context.log.info(f"registering {len(new_keys)} new part(s): {_listed(new_keys)}")
        requests.append(part_partitions.build_add_request(new_keys))
    if gone_keys:
        context.log.warning(
            f"removing {len(gone_keys)} partition(s) with no part file of that name:"
            f" {_listed(gone_keys)}"
        )
        requests.append(part_partitions.build_delete_request(gone_keys))
    # Remember what is refused now: each refused name is reported once while it stays.
    cursor = json.dumps({"refused": sorted(listing.refused)})
    if requests:
        return SensorResult(dynamic_partitions_requests=requests, cursor=cursor)
    return SensorResult(
        skip_reason=" ".join(notes) or f"no new or deleted part files in {parts_dir.path}",
        cursor=cursor,
    )
