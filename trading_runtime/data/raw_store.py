"""Where raw exchange files are: ``<raw>/<format>/<file>``, grouped as they convert (one feed
file, or a Tardis trades + book pair), each group a partition key; and the lineage sidecars that
say which raw group each part was made from (``<parts>/lineage/<part>.json``).

A group's key is ``<format>-<file name>`` for a feed file and ``tardis-<exchange>_<symbol>_<day>``
for a Tardis symbol-day, checked against the part-name rule (``layout.PART_KEY_RULE``): a file
whose key breaks it is refused, never renamed. Hidden files (``.name``, e.g. a copy in progress)
are skipped. Raw files are local (hftbacktest's converters read local files).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trading_runtime.data.ingest.formats import FORMATS
from trading_runtime.data.ingest.tardis import tardis_symbol_day
from trading_runtime.layout import LINEAGE_DIR, PartNameError, check_part_key

__all__ = [
    "RawGroup",
    "RawListing",
    "group_digest",
    "group_inputs",
    "lineage_by_part",
    "lineage_raw_key",
    "raw_group_key",
    "raw_inputs_by_key",
    "scan_raw",
]


@dataclass(frozen=True)
class RawGroup:
    """Raw files converted together, under one partition key."""

    key: str
    format: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class RawListing:
    """The raw groups by key (sorted), the files refused (path under the raw directory -> why),
    and whether the raw directory exists at all (a missing one is never "every file deleted")."""

    groups: dict[str, RawGroup]
    refused: dict[str, str] = field(default_factory=dict)
    found: bool = True


def raw_group_key(raw_format: str, name: str) -> str:
    """The partition key of the group a raw file belongs to; ``ValueError`` (a
    ``PartNameError`` for a key that breaks the part-name rule) when it has none."""
    if raw_format not in FORMATS:
        raise ValueError(f"{raw_format!r} is not a raw format ({', '.join(FORMATS)})")
    if raw_format == "tardis":
        group = tardis_symbol_day(name)
        if group is None:
            raise ValueError(
                "not a Tardis file name (<exchange>_trades|incremental_book_L2_<yyyy-mm-dd>"
                "_<symbol>.csv[.gz])"
            )
        return check_part_key(f"tardis-{group}")
    return check_part_key(f"{raw_format}-{name}")


def scan_raw(raw_dir: str | Path) -> RawListing:
    """The raw files under ``raw_dir``, grouped; each file without a group is refused alone."""
    if "://" in str(raw_dir):
        raise ValueError(f"raw directory {raw_dir}: raw files must be in a local directory")
    base = Path(raw_dir)
    if not base.is_dir():
        return RawListing({}, found=False)
    files: dict[str, list[Path]] = {}
    formats: dict[str, str] = {}
    refused: dict[str, str] = {}
    for entry in sorted(base.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            refused[entry.name] = f"put raw files in {base}/<format>/ ({', '.join(FORMATS)})"
            continue
        for path in sorted(entry.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                key = raw_group_key(entry.name, path.name)
            except PartNameError as exc:
                refused[f"{entry.name}/{path.name}"] = f"its partition key {exc}"
                continue
            except ValueError as exc:
                refused[f"{entry.name}/{path.name}"] = str(exc)
                continue
            files.setdefault(key, []).append(path)
            formats[key] = entry.name
    groups = {key: RawGroup(key, formats[key], tuple(files[key])) for key in sorted(files)}
    return RawListing(groups, refused)


def group_digest(inputs: Mapping[str, str]) -> str:
    """One sha256 for a group's files (name -> sha256): its data version."""
    text = "\n".join(f"{name} {sha}" for name, sha in sorted(inputs.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def group_inputs(group: RawGroup, sha256_of: Callable[[Path], str | None]) -> dict[str, str]:
    """The group's files' sha256 by name (files gone meanwhile left out)."""
    found = {path.name: sha256_of(path) for path in group.files}
    return {name: sha for name, sha in found.items() if sha is not None}


def lineage_by_part(parts_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every lineage sidecar in the parts directory (local only), by part name; unreadable ones
    are left out (their part is then treated as hand-dropped)."""
    if "://" in str(parts_dir):
        return {}
    directory = Path(parts_dir) / LINEAGE_DIR
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("part") == path.stem:
            found[path.stem] = document
    return found


def lineage_raw_key(lineage: Mapping[str, Any]) -> str | None:
    """The raw group key a part's lineage names (None when it names none that is valid)."""
    inputs = lineage.get("inputs") or []
    try:
        return raw_group_key(str(lineage.get("format")), str(inputs[0]["file"]))
    except (ValueError, IndexError, KeyError, TypeError):
        return None


def raw_inputs_by_key(lineages: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """What each raw group's parts were made from (file name -> sha256), by raw key."""
    found: dict[str, dict[str, str]] = {}
    for lineage in lineages:
        key = lineage_raw_key(lineage)
        if key is not None:
            inputs = {str(i.get("file")): str(i.get("sha256")) for i in lineage["inputs"]}
            found.setdefault(key, {}).update(inputs)
    return found
