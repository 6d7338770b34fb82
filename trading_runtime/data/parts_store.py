"""Where part files are: listing a parts directory (or object-store prefix) against the
part-name rule, a partition key's file, and a local copy of a remote part."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from trading_runtime.data.files import regular_file_problem
from trading_runtime.layout import (
    PART_KEY_RULE,
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
    # The refused names that are no regular file (a FIFO, a device, a directory): their problem
    # is their type, not their name.
    not_regular: frozenset[str] = frozenset()

    def reason(self, name: str) -> str:
        """Why ``name`` is refused, for one line: its type, or the part-name rule it breaks."""
        if name in self.not_regular:
            return self.refused[name]
        return f"{self.refused[name]} (a part name has {PART_KEY_RULE})"


def scan_parts(parts_dir: str | Path | UPath) -> PartListing:
    """The part files in a directory or under a URL prefix, checked against the part-name rule
    (``layout.PART_KEY_RULE``); in a local directory, entries that are no regular file (a FIFO,
    a device, a directory named like a part) are refused by their type, without opening them."""
    base = as_upath(parts_dir)
    try:
        if not base.is_dir():
            return PartListing([], found=False)
        names = [p.name for p in base.iterdir()]
    except FileNotFoundError:
        return PartListing([], found=False)
    keys: list[str] = []
    refused: dict[str, str] = {}
    not_regular: set[str] = set()
    local = Path(base.path) if is_local(base) else None
    for name in sorted(names):
        if not name.endswith(PART_SUFFIX):
            continue  # not a part file (notes, temporary downloads)
        try:
            key = part_key(name)
        except PartNameError as exc:
            refused[name] = exc.problem
            continue
        problem = regular_file_problem(local / name) if local is not None else None
        if problem is not None and problem != "file does not exist":  # deleted since listed
            refused[name] = problem
            not_regular.add(name)
        elif problem is None:
            keys.append(key)
    return PartListing(sorted(keys), refused, not_regular=frozenset(not_regular))


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
