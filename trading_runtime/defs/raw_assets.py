"""``raw_market_data``: one partition per raw group (a feed file, a Tardis symbol-day) in
``<raw>/<format>/``; materializing it converts the group into parts with hftbacktest's converter
(``data.ingest.publish.convert_group``) and registers them as ``parts`` partitions, which
declarative automation then backtests. Lineage is metadata on both sides (``defs/lineage.py``)."""

import hashlib
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

import trading_runtime
from trading_runtime.config import ConfigError
from trading_runtime.data.ingest.errors import RawDataError
from trading_runtime.data.part_info import sha256_file
from trading_runtime.data.raw_store import RawGroup, group_digest
from trading_runtime.defs.metadata import partition_failure
from trading_runtime.defs.partitions import (
    PARTS_PARTITIONS,
    RAW_PARTITIONS,
    add_part_partitions,
    raw_partitions,
    unregistered_part_keys,
)
from trading_runtime.defs.resources import BacktestRunner, PartsDirectory, RawDirectory

if TYPE_CHECKING:
    from trading_runtime.data.ingest.publish import GroupConversion
    from trading_runtime.data.ingest.run import IngestSpec

__all__ = ["RAW_ASSET", "make_raw_market_data", "raw_code_version", "raw_metadata"]

RAW_ASSET = RAW_PARTITIONS
GROUP = "backtests"


def raw_code_version(window: str, snapshots: bool, tick_size: float, lot_size: float) -> str:
    """What decides the parts besides the raw bytes: the runtime, hftbacktest's converters, the
    window, and with snapshots the instrument's tick and lot size."""
    inputs = [trading_runtime.__version__, version("hftbacktest"), window, str(snapshots)]
    if snapshots:
        inputs += [repr(tick_size), repr(lot_size)]
    return "raw-" + hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16]


def _utc(ns: int | None) -> str:
    if ns is None:
        return ""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _parts_table(conversion: "GroupConversion") -> str:
    rows = ["| part | events | window (UTC) | book from |", "|---|---|---|---|"]
    for part in conversion.parts:
        lineage = part.lineage
        window = lineage["window"]
        span = f"{_utc(window['start_ns'])} .. {_utc(window['end_ns'])}".rstrip(". ")
        snapshot = lineage["snapshot"] or {}
        rows.append(
            f"| {lineage['part']} | {lineage['n_events']} | {span} |"
            f" {snapshot.get('from_part', '')} |"
        )
    return "\n".join(rows)


def raw_metadata(
    group: RawGroup, inputs: dict[str, str], conversion: "GroupConversion", spec: "IngestSpec"
) -> dict[str, Any]:
    """What the UI shows of a conversion: the raw files' sha256, the converter and its version,
    the window, what the converter corrected, and the parts it made."""
    first = conversion.parts[0].lineage if conversion.parts else {}
    corrections = first.get("corrections", {})
    return {
        "format": group.format,
        "raw_files": MetadataValue.json([{"file": n, "sha256": s} for n, s in inputs.items()]),
        "raw_sha256": group_digest(inputs),
        "converter": first.get("converter", ""),
        "hftbacktest_version": version("hftbacktest"),
        "symbol": first.get("symbol") or "",
        "window_ns": spec.window_ns or 0,
        "snapshots": spec.snapshots,
        # What the converter corrected (it only prints it): see docs/data.md, Lineage.
        "latency_offset_ns": corrections.get("latency_offset_ns", 0),
        "reordered_events": corrections.get("reordered_events", 0),
        "messages_by_kind": MetadataValue.json(corrections.get("messages_by_kind", {})),
        "converter_messages": MetadataValue.json(corrections.get("printed", [])),
        "events": corrections.get("events", 0),
        "n_parts": len(conversion.parts),
        "parts": MetadataValue.json([part.path.stem for part in conversion.parts]),
        "parts_table": MetadataValue.md(_parts_table(conversion)),
        "removed_parts": MetadataValue.json(conversion.removed),
    }


def make_raw_market_data(code_version: str) -> AssetsDefinition:
    """``raw_market_data`` with the code version of the configured conversion."""

    @asset(
        name=RAW_ASSET,
        partitions_def=raw_partitions,
        group_name=GROUP,
        code_version=code_version,
        kinds={"hftbacktest", "numpy"},
        description=(
            "Raw exchange files in <raw>/<format>/, one partition per feed file or Tardis"
            " symbol-day, converted into parts by hftbacktest's converter for the format (cut on"
            " the window, the book carried over); the parts become partitions of `parts`."
        ),
    )
    def raw_market_data(
        context: AssetExecutionContext,
        raw_dir: RawDirectory,
        parts_dir: PartsDirectory,
        backtest_runner: BacktestRunner,
    ) -> MaterializeResult:
        key = context.partition_key
        if "://" in parts_dir.path:
            raise partition_failure(
                key, f"raw files convert into a local parts directory, not {parts_dir.path}"
            )
        group = raw_dir.listing().groups.get(key)
        if group is None:
            raise partition_failure(key, f"no raw files for {key} in {raw_dir.path}")
        try:
            engine = backtest_runner.load_config().engine
        except ConfigError as exc:
            raise partition_failure(key, str(exc)) from None
        spec = raw_dir.spec(group.format, engine)
        # The converters load hftbacktest and numba: imported by the run that converts.
        from trading_runtime.data.ingest.publish import convert_group

        try:
            conversion = convert_group(group, spec, Path(parts_dir.path))
        except RawDataError as exc:
            raise partition_failure(key, str(exc)) from None
        # The raw files' hashes as the conversion read them (its lineage): hashed once, and the
        # data version names exactly the bytes the parts came from.
        lineage = conversion.parts[0].lineage["inputs"] if conversion.parts else None
        inputs = (
            {entry["file"]: entry["sha256"] for entry in lineage}
            if lineage is not None
            else {path.name: sha256_file(path) for path in group.files}
        )
        instance = context.instance
        produced = [part.path.stem for part in conversion.parts]
        new = unregistered_part_keys(instance, produced)
        if new:
            add_part_partitions(instance, new)  # with the base variant
        known = set(instance.get_dynamic_partitions(PARTS_PARTITIONS))
        for name in conversion.removed:
            if name in known:
                instance.delete_dynamic_partition(PARTS_PARTITIONS, name)
        context.log.info(
            f"{key}: {len(produced)} part(s) ({len(new)} new): {', '.join(produced[:10])}"
        )
        return MaterializeResult(
            metadata=raw_metadata(group, inputs, conversion, spec),
            data_version=DataVersion(group_digest(inputs)),
        )

    return raw_market_data
