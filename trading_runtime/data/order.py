"""Parts in time order, and a part's warm-up neighbours: the earlier parts fed to the engine
before the scored part, in one backtest.

A config's ``warmup`` section asks for the previous N parts, or for enough previous parts to
reach ``duration_ns`` back from the scored part's start. Parts are ordered by their first
timestamp (the first row's ``exch_ts``, then ``local_ts``, then the name), never by name; the
warm-up parts are the ones immediately before the scored part, from the scored part's own
directory (or object-store prefix).

Ordering hundreds of parts reads only each file's first row (the zip directory, the ``.npy``
header and one event; a few kB even for a compressed member), cached in this process by location,
size and modification time. The chosen inputs are then validated in the engine worker like the
scored part, and checked exactly there (``config_fit.check_inputs``): in order, not
overlapping (a previous part's last ``exch_ts``/``local_ts`` after the scored part's first),
within ``max_gap_ns`` and covering ``duration_ns``.

Scoring starts at the scored part's first ``local_ts`` (``scored_start_ts``, bound by name like
``end_ts``): the stored record keeps the rows from then on (``backtest.execute.split_record``)
and metrics count from the state just before it. Provenance lists every input
(``results.provenance.input_entries``), and ``freshness.inputs`` compares what a result would
list now with a stored result's ``inputs``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from upath import UPath

from trading_runtime.config import WarmupSection
from trading_runtime.data.event_format import EVENT_DTYPE as event_dtype
from trading_runtime.data.files import NotRegularFileError, open_regular
from trading_runtime.data.part_info import PartValidationError
from trading_runtime.layout import PART_SUFFIX, PartNameError, part_key
from trading_runtime.storage import as_upath, is_local

__all__ = [
    "PartStart",
    "WarmupError",
    "open_binary",
    "ordered_parts",
    "read_part_start",
    "resolve_warmup",
    "seconds",
    "select_warmup",
]

_DATA_MEMBER = "data.npy"
# Object stores answer small reads with latency: read many first rows at once.
_REMOTE_READ_THREADS = 16
_LOCAL_READ_THREADS = 4
# Reads of a remote part's first row: small blocks (the zip directory, then the first row).
_REMOTE_BLOCK_SIZE = 1 << 16


class WarmupError(PartValidationError):
    """The warm-up a config asks for cannot be given to a part; the message names the part and
    what was needed."""


@dataclass(frozen=True)
class PartStart:
    """A part's place in time order: its first row's timestamps."""

    key: str
    location: UPath
    first_exch_ts: int
    first_local_ts: int


# (location, size, modification stamp) -> first row's (exch_ts, local_ts).
_first_rows: dict[tuple[str, int, str], tuple[int, int]] = {}


def open_binary(location: UPath) -> Any:
    if is_local(location):
        return open_regular(location.path)  # closed by the caller's with; never a FIFO
    return location.fs.open(location.path, "rb", block_size=_REMOTE_BLOCK_SIZE)


def read_part_start(location: str | Path | UPath) -> tuple[int, int]:
    """The first row's (exch_ts, local_ts) of a part, reading only the archive's directory, the
    array header and one event."""
    path = as_upath(location)
    try:
        with open_binary(path) as handle, zipfile.ZipFile(handle) as archive:
            if _DATA_MEMBER not in archive.namelist():
                raise PartValidationError(f"part {path}: no array named 'data'")
            with archive.open(_DATA_MEMBER) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
                if dtype != event_dtype or len(shape) != 1 or shape[0] == 0:
                    raise PartValidationError(
                        f"part {path}: array 'data' is not a non-empty 1-D array of hftbacktest"
                        f" event_dtype (dtype {dtype}, shape {shape})"
                    )
                first = np.frombuffer(stream.read(event_dtype.itemsize), dtype=event_dtype)
    except PartValidationError:
        raise
    except FileNotFoundError:
        raise PartValidationError(f"part {path}: file does not exist") from None
    except NotRegularFileError as exc:
        raise PartValidationError(f"part {exc}") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise PartValidationError(
            f"part {path}: cannot read its first event ({type(exc).__name__}: {exc})"
        ) from exc
    if len(first) != 1:
        raise PartValidationError(f"part {path}: array 'data' is truncated")
    return int(first["exch_ts"][0]), int(first["local_ts"][0])


def _listing(directory: UPath) -> list[tuple[str, UPath, int, str]]:
    """(key, location, size, modification stamp) of the part files in a directory or prefix;
    files whose names are no part names are left out, as ``storage.scan_parts`` does."""
    found = []
    for entry in directory.fs.ls(directory.path, detail=True):
        name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "file" or not name.endswith(PART_SUFFIX):
            continue
        try:
            key = part_key(name)
        except PartNameError:
            continue
        stamp = entry.get("mtime") or entry.get("LastModified") or entry.get("ETag") or ""
        found.append((key, directory / name, int(entry.get("size") or 0), str(stamp)))
    return sorted(found, key=lambda item: item[0])


def ordered_parts(directory: str | Path | UPath) -> list[PartStart]:
    """Every part in ``directory`` in time order: by first ``exch_ts``, then ``local_ts``, then
    name. A part whose first row cannot be read fails the whole ordering (naming it): a
    neighbour that cannot be placed must not be skipped silently."""
    base = as_upath(directory)
    try:
        listing = _listing(base)
    except FileNotFoundError:
        raise WarmupError(f"parts directory {base} does not exist") from None
    missing = [item for item in listing if (str(item[1]), item[2], item[3]) not in _first_rows]

    def read(item: tuple[str, UPath, int, str]) -> tuple[int, int] | PartValidationError:
        try:
            return read_part_start(item[1])
        except PartValidationError as exc:
            return exc

    threads = _LOCAL_READ_THREADS if is_local(base) else _REMOTE_READ_THREADS
    with ThreadPoolExecutor(min(threads, max(1, len(missing)))) as pool:
        outcomes = list(pool.map(read, missing))
    problems = []
    for item, outcome in zip(missing, outcomes, strict=True):
        if isinstance(outcome, PartValidationError):
            problems.append(str(outcome))
        else:
            _first_rows[(str(item[1]), item[2], item[3])] = outcome
    if problems:
        raise WarmupError(
            f"cannot order the parts in {base} by first timestamp: " + "; ".join(problems)
        )
    starts = [
        PartStart(key, location, *_first_rows[(str(location), size, stamp)])
        for key, location, size, stamp in listing
    ]
    return sorted(starts, key=lambda p: (p.first_exch_ts, p.first_local_ts, p.key))


def seconds(ns: int) -> str:
    return f"{ns / 1e9:g} s"


def select_warmup(
    section: WarmupSection, ordered: Sequence[PartStart], key: str
) -> list[PartStart]:
    """The warm-up parts of part ``key`` (in time order) from ``ordered`` (``ordered_parts``), or
    ``WarmupError`` saying what was needed and what exists."""
    index = next((i for i, p in enumerate(ordered) if p.key == key), None)
    if index is None:
        raise WarmupError(f"part {key}: not among the ordered parts")
    scored, earlier = ordered[index], list(ordered[:index])
    first = " (it is the first part by first timestamp)" if not earlier else ""
    if section.parts is not None:
        if len(earlier) < section.parts:
            raise WarmupError(
                f"part {key}: warmup.parts = {section.parts} needs {section.parts} earlier"
                f" part(s) (ordered by first timestamp), found {len(earlier)}{first}"
            )
        return earlier[len(earlier) - section.parts :]
    assert section.duration_ns is not None  # the section holds exactly one of the two
    reach = scored.first_exch_ts - section.duration_ns
    for start in range(len(earlier) - 1, -1, -1):
        if earlier[start].first_exch_ts <= reach:
            return earlier[start:]
    covered = scored.first_exch_ts - earlier[0].first_exch_ts if earlier else 0
    raise WarmupError(
        f"part {key}: warmup.duration_ns = {section.duration_ns} ({seconds(section.duration_ns)})"
        f" needs earlier parts reaching back to exch_ts {reach}; the {len(earlier)} earlier"
        f" part(s) cover {seconds(covered)}{first}"
    )


def resolve_warmup(
    section: WarmupSection, parts: Mapping[str, str | Path | UPath]
) -> dict[str, list[UPath] | WarmupError]:
    """For each scored part (by key): its warm-up parts' locations in feeding order, taken from
    the part's own directory, or the error that fails it. Each directory is listed once."""
    by_directory: dict[str, list[tuple[str, UPath]]] = {}
    for key, location in parts.items():
        path = as_upath(location)
        by_directory.setdefault(str(path.parent), []).append((key, path))
    outcomes: dict[str, list[UPath] | WarmupError] = {}
    for members in by_directory.values():
        try:
            ordered = ordered_parts(members[0][1].parent)
        except WarmupError as exc:
            outcomes.update({key: exc for key, _ in members})
            continue
        for key, path in members:
            try:
                chosen = select_warmup(section, ordered, part_key(path.name))
            except WarmupError as exc:
                outcomes[key] = exc
                continue
            outcomes[key] = [p.location for p in chosen]
    return dict(sorted(outcomes.items()))
