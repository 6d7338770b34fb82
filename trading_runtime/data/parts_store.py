"""Where part files are: listing a parts directory (or object-store prefix) against the
part-name rule, a partition key's file, and a local copy of a remote part."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from trading_runtime.layout import (
    PART_SUFFIX,
    PartNameError,
    check_part_key,
    part_file_name,
    part_key,
)
from trading_runtime.storage import as_upath, is_local

__all__ = ["PartListing", "list_part_keys", "localize", "part_location", "scan_parts"]


@dataclass(frozen=True)
class PartListing:
    """What a parts directory holds: partition keys of the part files (sorted), and the ``.npz``
    files whose names break the part-name rule (file name -> the rule broken), which are no
    parts. ``found`` is False when the directory does not exist (or cannot be listed), so that a
    missing directory is never taken for one whose parts were all deleted."""

    keys: list[str]
    refused: dict[str, str] = field(default_factory=dict)
    found: bool = True


def scan_parts(parts_dir: str | Path | UPath) -> PartListing:
    """The part files in a directory or under a URL prefix, checked against the part-name rule
    (``layout.PART_KEY_RULE``)."""
    base = as_upath(parts_dir)
    try:
        if not base.is_dir():
            return PartListing([], found=False)
        names = [p.name for p in base.iterdir()]
    except FileNotFoundError:
        return PartListing([], found=False)
    keys: list[str] = []
    refused: dict[str, str] = {}
    for name in sorted(names):
        if not name.endswith(PART_SUFFIX):
            continue  # not a part file (notes, temporary downloads)
        try:
            keys.append(part_key(name))
        except PartNameError as exc:
            refused[name] = exc.problem
    return PartListing(sorted(keys), refused)


def list_part_keys(parts_dir: str | Path | UPath) -> list[str]:
    """Partition keys (file names without .npz) of the part files with valid names, sorted; see
    ``scan_parts`` for the refused ones."""
    return scan_parts(parts_dir).keys


def part_location(parts_dir: str | Path | UPath, key: str) -> UPath:
    """The part file of a partition key; ``PartNameError`` for a key that is no part name."""
    return as_upath(parts_dir) / part_file_name(check_part_key(key))


def localize(location: str | Path | UPath, scratch: Path) -> Path:
    """A local path for a part: itself when local, else a copy downloaded into ``scratch``
    (hftbacktest reads local files only). A missing remote file is reported, never waited on."""
    path = as_upath(location)
    if is_local(path):
        return Path(path.path)
    if not path.is_file():
        raise FileNotFoundError(f"part {path}: file does not exist")
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / path.name
    temp = scratch / f".{path.name}.{uuid.uuid4().hex}.part"
    with path.open("rb") as source, open(temp, "wb") as sink:
        shutil.copyfileobj(source, sink, length=1 << 20)
    temp.rename(target)
    return target
