"""Which raw groups to convert, each with why: new, changed, or their parts no longer what they
were converted with. Pure: the lineage sidecars and Dagster's failed partitions come in as
arguments. A part records its raw inputs' sha256 (its lineage), so a raw file is changed when its
sha256 is not the one its parts were made from; the parts it then makes have new bytes, and their
results are stale by the part's sha256 (``staleness.stale_reason``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from trading_runtime.data.raw_store import (
    RawGroup,
    group_digest,
    group_inputs,
    lineage_raw_key,
    raw_inputs_by_key,
)

__all__ = ["NEW", "RAW_CHANGED", "RawPlan", "plan_conversions"]

NEW = "new"
RAW_CHANGED = "raw changed"


@dataclass(frozen=True)
class RawPlan:
    """Raw groups to convert (with why) and up to date, in key order; every group's current
    digest (``raw_store.group_digest``)."""

    to_convert: dict[str, str]
    up_to_date: list[str]
    digests: dict[str, str]


def _made_with(lineages: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = {}
    for lineage in lineages.values():
        key = lineage_raw_key(lineage)
        if key is not None:
            found.setdefault(key, []).append(lineage)
    return found


def plan_conversions(
    groups: Mapping[str, RawGroup],
    lineages: Mapping[str, Mapping[str, Any]],
    sha256_of: Callable[[Path], str | None],
    *,
    window_ns: int | None,
    present_parts: Collection[str] | None = None,
    failed: Collection[str] = (),
    force: bool = False,
) -> RawPlan:
    """Each group that is new, changed, whose last conversion failed, whose parts were cut on
    another window or by another hftbacktest, or one of whose parts is gone (``present_parts``:
    the part files there are; None: not checked)."""
    recorded = raw_inputs_by_key(lineages.values())
    made = _made_with(lineages)
    converter = version("hftbacktest")
    to_convert: dict[str, str] = {}
    digests: dict[str, str] = {}
    for key, group in sorted(groups.items()):
        current = group_inputs(group, sha256_of)
        digests[key] = group_digest(current)
        parts = made.get(key, [])
        reason = None
        if force:
            reason = "forced"
        elif key in failed:
            reason = "last conversion failed"
        elif key not in recorded:
            reason = NEW
        elif recorded[key] != current:
            reason = RAW_CHANGED
        elif any((p.get("window") or {}).get("window_ns") != window_ns for p in parts):
            reason = "window changed"
        elif any(p.get("hftbacktest_version") != converter for p in parts):
            reason = "converter version changed"
        elif present_parts is not None and any(p.get("part") not in present_parts for p in parts):
            reason = "part file gone"
        if reason is not None:
            to_convert[key] = reason
    up_to_date = [key for key in sorted(groups) if key not in to_convert]
    return RawPlan(to_convert, up_to_date, digests)
