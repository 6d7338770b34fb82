"""Where parts and results live: a local directory, or any URL UPath understands (``s3://…`` on a
cluster, where pods share no disk), in the one layout of ``trading_runtime.layout``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from trading_runtime.layout import (
    PART_SUFFIX,
    RESULT_FILE,
    RESULTS_DIR,
    PartNameError,
    check_part_key,
    part_file_name,
    part_key,
)
from trading_runtime.results import BacktestResult

__all__ = [
    "PartListing",
    "as_upath",
    "is_local",
    "list_part_keys",
    "load_results",
    "localize",
    "part_location",
    "publish_directory",
    "read_parquet",
    "scan_parts",
    "stored_result_keys",
    "write_parquet",
]

_LOCAL_PROTOCOLS = ("", "file", "local")
# Object stores answer small reads with latency, not bandwidth: read many result.json at once.
_REMOTE_READ_THREADS = 16


def as_upath(location: str | Path | UPath) -> UPath:
    return location if isinstance(location, UPath) else UPath(str(location))


def is_local(path: UPath) -> bool:
    return path.protocol in _LOCAL_PROTOCOLS


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


def publish_directory(staging: Path, destination: UPath) -> None:
    """Move a finished result into place without ever exposing a half-written one.

    Locally: move (or, across filesystems, copy) to a hidden sibling, then swap by rename, so an
    earlier result stays intact until the new one is complete. Object stores have no rename: data
    files first, then ``result.json``, which readers take as the marker of a complete result.
    """
    if is_local(destination):
        target = Path(destination.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".{target.name}.incoming-{uuid.uuid4().hex}")
        outgoing = target.with_name(f".{target.name}.outgoing-{uuid.uuid4().hex}")
        try:
            staging.rename(incoming)
        except OSError:  # scratch space on another filesystem
            shutil.copytree(staging, incoming)
        if target.exists():
            target.rename(outgoing)
        incoming.rename(target)
        shutil.rmtree(outgoing, ignore_errors=True)
        return
    destination.mkdir(parents=True, exist_ok=True)
    marker = destination / RESULT_FILE
    if marker.exists():
        marker.unlink()
    for file in sorted(p for p in staging.iterdir() if p.is_file()):
        if file.name != RESULT_FILE:
            (destination / file.name).write_bytes(file.read_bytes())
    marker.write_bytes((staging / RESULT_FILE).read_bytes())


def write_parquet(table: pa.Table, path: UPath) -> None:
    """Fixed writer options (same table, same bytes); temp + rename where there is a rename."""
    if is_local(path):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        pq.write_table(table, temp, compression="zstd")
        temp.rename(target)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pq.write_table(table, handle, compression="zstd")


def read_parquet(path: UPath) -> pa.Table:
    with path.open("rb") as handle:
        return pq.read_table(handle)


def stored_result_keys(results: str | Path | UPath) -> list[str]:
    """Partitions with a complete stored result (``result.json`` present), sorted."""
    base = as_upath(results) / RESULTS_DIR
    # Plain paths locally: UPath costs ~10x per file, which shows at 10,000 partitions.
    root: Path | UPath = Path(base.path) if is_local(base) else base
    try:
        if not root.is_dir():
            return []
        markers = root.glob(f"*/{RESULT_FILE}")
        return sorted({m.parent.name for m in markers if not m.parent.name.startswith(".")})
    except FileNotFoundError:
        return []


def load_results(
    results: str | Path | UPath, keys: Iterable[str] | None = None
) -> dict[str, BacktestResult]:
    """Stored results (metrics and provenance from ``result.json``; curves stay on storage)."""
    base = as_upath(results) / RESULTS_DIR
    wanted = sorted(keys) if keys is not None else stored_result_keys(results)
    if is_local(base):
        local = Path(base.path)  # plain paths: a tenth of UPath's cost per file
        return {key: BacktestResult.load(local / key) for key in wanted}
    with ThreadPoolExecutor(_REMOTE_READ_THREADS) as pool:
        loaded = pool.map(lambda key: BacktestResult.load(base / key), wanted)
        return dict(zip(wanted, loaded, strict=True))
