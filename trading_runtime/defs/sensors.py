"""Keep the partitions in step with the files: add new ones, remove deleted ones, and report
files whose names are refused; parts (``register_part_files``) and raw groups
(``register_raw_files``, which with automation on also re-requests a changed raw group's
conversion and the re-converted parts' backtests)."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from upath import UPath

from trading_runtime.data.ingest.window_text import parse_window
from trading_runtime.data.parts_store import scan_parts
from trading_runtime.data.raw_store import lineage_by_part
from trading_runtime.defs.jobs import BACKTEST_JOB, CONVERT_JOB, VALIDATE_JOB
from trading_runtime.defs.partitions import (
    BASE_VARIANT_KEY,
    RAW_PARTITIONS,
    VARIANTS_PARTITIONS,
    part_partitions,
    raw_partitions,
    result_key,
    unregistered_part_keys,
    vanished_part_keys,
    variant_partitions,
)
from trading_runtime.defs.resources import PartsDirectory, RawDirectory
from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.freshness.raw_plan import NEW, RAW_CHANGED, plan_conversions
from trading_runtime.layout import PART_KEY_RULE

__all__ = ["RAW_HASHES_FILE", "make_register_raw_files", "register_part_files"]

# The raw files' sha256 by size and mtime, beside the instance (see freshness/part_hashes.py).
RAW_HASHES_FILE = "trading-runtime-raw-hashes.json"

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
        if not context.instance.has_dynamic_partition(VARIANTS_PARTITIONS, BASE_VARIANT_KEY):
            # Every part has a backtest_results partition for the config itself.
            requests.append(variant_partitions.build_add_request([BASE_VARIANT_KEY]))
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


def _raw_cursor(cursor: str | None) -> dict[str, Any]:
    try:
        document = json.loads(cursor) if cursor else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    return {name: document.get(name) or {} for name in ("raw", "parts")} | {
        "refused": document.get("refused") or []
    }


def _validated_sha256(context: SensorEvaluationContext, part: str) -> str | None:
    """The sha256 the latest ``parts`` materialization of ``part`` validated."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("parts"), asset_partitions=[part]), limit=1
    ).records
    event = records[0].asset_materialization if records else None
    value = event.metadata.get("sha256") if event is not None else None
    return None if value is None else str(value.value)


def _rerun_requests(
    context: SensorEvaluationContext,
    raw_dir: RawDirectory,
    parts_dir: PartsDirectory,
    groups: dict[str, Any],
    registered: set[str],
    cursor: dict[str, Any],
) -> tuple[list[RunRequest], dict[str, Any]]:
    """Conversions of raw groups whose bytes are not those their parts were made from (once per
    new content), and backtests of parts whose bytes a conversion changed since the last tick."""
    hashes = PartHashCache(Path(context.instance.root_directory) / RAW_HASHES_FILE)
    lineages = lineage_by_part(parts_dir.path)
    window_ns = parse_window(raw_dir.window)
    plan = plan_conversions(
        groups, lineages, lambda path: hashes.sha256(UPath(path)), window_ns=window_ns
    )
    hashes.save()
    requests = []
    for key, reason in plan.to_convert.items():
        seen, digest = cursor["raw"].get(key), plan.digests[key]
        # New ones are declarative automation's (missing); a changed one once per content, and
        # a never converted one (failed, or the Tardis book came later) when its files change.
        again = reason == RAW_CHANGED or (reason == NEW and seen is not None)
        if key in registered and again and seen != digest:
            context.log.info(f"raw {key} changed: converting it again")
            requests.append(
                RunRequest(run_key=f"{key}:{digest[:16]}", partition_key=key, job_name=CONVERT_JOB)
            )
    shas = {part: str(lineage.get("part_sha256")) for part, lineage in lineages.items()}
    variants = context.instance.get_dynamic_partitions(VARIANTS_PARTITIONS)
    for part, sha in shas.items():
        before = cursor["parts"].get(part)
        if before is not None and before != sha and _validated_sha256(context, part) != sha:
            context.log.info(f"part {part} re-converted: validating and backtesting it again")
            # Two jobs: parts and backtest_results are partitioned differently.
            run_key = f"{part}:{sha[:16]}"
            requests.append(RunRequest(run_key=run_key, partition_key=part, job_name=VALIDATE_JOB))
            requests.extend(
                RunRequest(
                    run_key=f"{run_key}:{variant}",
                    partition_key=result_key(part, variant),
                    job_name=BACKTEST_JOB,
                )
                for variant in variants
            )
    return requests, {"raw": plan.digests, "parts": shas}


def make_register_raw_files(rerun_changed: bool, jobs: Sequence[Any]) -> SensorDefinition:
    """The raw files' sensor; ``rerun_changed`` (declarative automation on): also request what a
    changed raw file makes stale, through ``jobs`` (``convert_raw``, ``validate_parts`` and
    ``backtest_parts``: one sensor target cannot span assets with different partitions)."""

    @sensor(
        name="register_raw_files",
        description=(
            "Adds a raw_market_data partition for every new raw group in <raw>/<format>/ (a feed"
            " file, a Tardis symbol-day), removes the partition of a deleted one, and reports once"
            " each file that has no group. With automation on, converts a raw group again when"
            " its sha256 is not the one its parts' lineage records, and backtests the parts that"
            " conversion changed."
        ),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        jobs=[job for job in jobs if job.name in (CONVERT_JOB, VALIDATE_JOB, BACKTEST_JOB)],
    )
    def register_raw_files(
        context: SensorEvaluationContext, raw_dir: RawDirectory, parts_dir: PartsDirectory
    ) -> SensorResult:
        listing = raw_dir.listing()
        if not listing.found:
            return SensorResult(
                skip_reason=f"no raw directory {raw_dir.path}: nothing to convert",
                cursor=context.cursor,
            )
        cursor = _raw_cursor(context.cursor)
        for name in sorted(set(listing.refused) - set(cursor["refused"])):
            context.log.warning(f"refused raw file {name}: {listing.refused[name]}")
        keys = list(listing.groups)
        registered = set(context.instance.get_dynamic_partitions(RAW_PARTITIONS))
        new_keys = unregistered_part_keys(context.instance, keys, RAW_PARTITIONS)
        gone_keys = vanished_part_keys(context.instance, keys, RAW_PARTITIONS)
        partitions: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
        if new_keys:
            context.log.info(f"registering {len(new_keys)} raw group(s): {_listed(new_keys)}")
            partitions.append(raw_partitions.build_add_request(new_keys))
        if gone_keys:
            context.log.warning(f"removing {len(gone_keys)} raw group(s): {_listed(gone_keys)}")
            partitions.append(raw_partitions.build_delete_request(gone_keys))
        runs: list[RunRequest] = []
        state: dict[str, Any] = {"raw": cursor["raw"], "parts": cursor["parts"]}
        if rerun_changed:
            runs, state = _rerun_requests(
                context, raw_dir, parts_dir, listing.groups, registered, cursor
            )
        next_cursor = json.dumps({**state, "refused": sorted(listing.refused)}, sort_keys=True)
        if partitions or runs:
            return SensorResult(
                run_requests=runs, dynamic_partitions_requests=partitions, cursor=next_cursor
            )
        return SensorResult(
            skip_reason=f"no new, changed or deleted raw files in {raw_dir.path}",
            cursor=next_cursor,
        )

    return register_raw_files
