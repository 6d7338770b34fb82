"""Lineage between raw files and parts, as metadata on both sides.

One raw group becomes several parts (one per window), and Dagster 1.13 has no partition mapping
for that (no custom mappings; ``AllPartitionMapping`` would make every part depend on every raw
file, so one changed raw file would show every part as stale). So ``raw_market_data`` is not
drawn as ``parts``'s upstream: its materialization lists the parts it made (``parts``), and each
part's ``parts`` and ``backtest_results`` materialization carries ``raw_source`` from the part's
lineage sidecar (``<parts>/lineage/<part>.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dagster import MetadataValue

from trading_runtime.data.raw_store import lineage_raw_key
from trading_runtime.layout import LINEAGE_DIR, check_part_key

__all__ = ["RAW_SOURCE_METADATA", "raw_source_metadata"]

RAW_SOURCE_METADATA = "raw_source"


def raw_source_metadata(parts_dir: str, key: str) -> dict[str, Any]:
    """``raw_source`` of a part made from raw files: the raw partition, its files' sha256, the
    converter and hftbacktest's version, the window and the snapshot's source; nothing for a
    hand-dropped part (no sidecar) or a parts directory in an object store."""
    if "://" in parts_dir:
        return {}
    path = Path(parts_dir) / LINEAGE_DIR / f"{check_part_key(key)}.json"
    try:
        lineage = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(lineage, dict):
        return {}
    snapshot = lineage.get("snapshot") or {}
    source = {
        "raw_partition": lineage_raw_key(lineage),
        "files": lineage.get("inputs"),
        "converter": lineage.get("converter"),
        "hftbacktest_version": lineage.get("hftbacktest_version"),
        "window": lineage.get("window"),
        "snapshot_from_part": snapshot.get("from_part"),
        "part_sha256": lineage.get("part_sha256"),
    }
    return {RAW_SOURCE_METADATA: MetadataValue.json(source)}
