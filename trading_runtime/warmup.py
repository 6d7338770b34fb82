"""Warm-up: earlier parts fed to the engine before the scored part, in one backtest.

A config's ``warmup`` section asks for the previous N parts, or for enough previous parts to
reach ``duration_ns`` back from the scored part's start. Parts are ordered by their first
timestamp (the first row's ``exch_ts``, then ``local_ts``, then the name), never by name; the
warm-up parts are the ones immediately before the scored part, from the scored part's own
directory (or object-store prefix).

Ordering hundreds of parts reads only each file's first row (the zip directory, the ``.npy``
header and one event; a few kB even for a compressed member), cached in this process by location,
size and modification time. The chosen inputs are then validated in the engine worker like the
scored part, and checked exactly there (``check_inputs``): in order, not overlapping (a previous
part's last ``exch_ts``/``local_ts`` after the scored part's first), within ``max_gap_ns`` and
covering ``duration_ns``.

Scoring starts at the scored part's first ``local_ts`` (``scored_start_ts``, bound by name like
``end_ts``): the stored record keeps the rows from then on (``split_record``) and metrics count
from the state just before it. Provenance lists every input (``input_entries``), and
``warmup_inputs_by_key`` gives what a result would list, for staleness checks that compare it with
a stored result's ``inputs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hftbacktest.binding import event_dtype
from upath import UPath

from trading_runtime.config import BacktestConfig, WarmupSection
from trading_runtime.data.validate import (
    PartInfo,
    PartValidationError,
    check_part_fits_config,
    check_roi_covers,
)
from trading_runtime.layout import PART_SUFFIX, PartNameError, part_key
from trading_runtime.storage import as_upath, is_local, part_location

__all__ = [
    "INPUT_ROLE_SCORED",
    "INPUT_ROLE_WARMUP",
    "PartStart",
    "WarmupError",
    "check_inputs",
    "check_warmup_fits_config",
    "input_entries",
    "inputs_digest",
    "ordered_parts",
    "read_part_start",
    "recorded_inputs",
    "resolve_warmup",
    "select_warmup",
    "split_record",
    "stale_inputs",
    "warmup_input_hashes",
    "warmup_inputs_by_key",
]

INPUT_ROLE_WARMUP = "warmup"
INPUT_ROLE_SCORED = "scored"
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


def _open_binary(location: UPath) -> Any:
    if is_local(location):
        return open(location.path, "rb")  # closed by the caller's with
    return location.fs.open(location.path, "rb", block_size=_REMOTE_BLOCK_SIZE)


def read_part_start(location: str | Path | UPath) -> tuple[int, int]:
    """The first row's (exch_ts, local_ts) of a part, reading only the archive's directory, the
    array header and one event."""
    path = as_upath(location)
    try:
        with _open_binary(path) as handle, zipfile.ZipFile(handle) as archive:
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


def _seconds(ns: int) -> str:
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
        f"part {key}: warmup.duration_ns = {section.duration_ns} ({_seconds(section.duration_ns)})"
        f" needs earlier parts reaching back to exch_ts {reach}; the {len(earlier)} earlier"
        f" part(s) cover {_seconds(covered)}{first}"
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


def check_inputs(section: WarmupSection, inputs: Sequence[PartInfo]) -> None:
    """The exact checks on validated inputs (warm-up parts, then the scored part): each starts
    after the previous one ends, on both clocks; no gap exceeds ``max_gap_ns``; the warm-up
    covers ``duration_ns``."""
    scored = inputs[-1]
    for before, after in itertools.pairwise(inputs):
        for column in ("exch_ts", "local_ts"):
            last = getattr(before, f"last_{column}")
            first = getattr(after, f"first_{column}")
            if last > first:
                raise WarmupError(
                    f"part {scored.name}: warm-up input {before.name} overlaps {after.name}: its"
                    f" last {column} {last} is after {after.name}'s first {first}; parts must not"
                    " overlap in time"
                )
        gap = after.first_exch_ts - before.last_exch_ts
        if section.max_gap_ns is not None and gap > section.max_gap_ns:
            raise WarmupError(
                f"part {scored.name}: {_seconds(gap)} of no data between {before.name} and"
                f" {after.name}, more than warmup.max_gap_ns = {section.max_gap_ns}"
                f" ({_seconds(section.max_gap_ns)}): a part is missing"
            )
    if section.duration_ns is not None:
        covered = scored.first_exch_ts - inputs[0].first_exch_ts
        if covered < section.duration_ns:
            raise WarmupError(
                f"part {scored.name}: the warm-up covers {_seconds(covered)}, less than"
                f" warmup.duration_ns = {section.duration_ns} ({_seconds(section.duration_ns)})"
            )


def check_warmup_fits_config(
    config: BacktestConfig, warmup: Sequence[PartInfo], scored: PartInfo
) -> None:
    """``check_inputs``, and ``check_part_fits_config`` over all inputs: the ROI covers every
    input's prices, and the recorder (``engine.max_steps``) holds the whole span, warm-up
    included (the strategy records from the first warm-up event)."""
    if config.warmup is None:
        raise WarmupError(f"part {scored.name}: warm-up parts given but the config has no warmup")
    check_inputs(config.warmup, [*warmup, scored])
    for info in warmup:
        check_roi_covers(config, info)
    whole = dataclasses.replace(
        scored,
        path=f"{scored.path} with {len(warmup)} warm-up part(s) before it",
        first_exch_ts=warmup[0].first_exch_ts if warmup else scored.first_exch_ts,
    )
    check_part_fits_config(config, whole)


def input_entries(warmup: Sequence[PartInfo], scored: PartInfo) -> list[dict[str, str]]:
    """Every input file in feeding order: part name, sha256 and role (``warmup``/``scored``)."""
    entries = [
        {"part": info.name, "sha256": info.sha256, "role": INPUT_ROLE_WARMUP} for info in warmup
    ]
    entries.append({"part": scored.name, "sha256": scored.sha256, "role": INPUT_ROLE_SCORED})
    return entries


def inputs_digest(entries: Iterable[Mapping[str, str]]) -> str:
    """sha256 of the inputs list (order, names, hashes, roles) as canonical JSON."""
    canonical = [dict(sorted(entry.items())) for entry in entries]
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def split_record(record: np.ndarray, scored_start_ts: int) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, scored rows) of a state record: the scored rows are those at or after
    ``scored_start_ts``; the baseline is the last row before it (none when the strategy did
    not record during the warm-up), the state scoring starts from."""
    cut = int(np.searchsorted(record["timestamp"], scored_start_ts, side="left"))
    return record[max(cut - 1, 0) : cut].copy(), record[cut:].copy()


def _stream_sha256(location: UPath) -> str:
    with _open_binary(location) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def warmup_inputs_by_key(
    config: BacktestConfig,
    parts_dir: str | Path | UPath,
    keys: Sequence[str],
    known_sha256: Mapping[str, str] | None = None,
    sha256_of: Callable[[UPath], str] = _stream_sha256,
) -> dict[str, list[tuple[str, str]] | WarmupError]:
    """What the result of each partition in ``keys`` lists as ``inputs``, as (part, sha256)
    pairs in feeding order (warm-up parts, then the part itself), without running anything.

    A staleness check compares it with a stored result's ``provenance["inputs"]``: the result is
    stale when they differ (a warm-up part changed, was added before it or removed). Each file is
    hashed once; ``known_sha256`` (by key) skips hashing files whose hash the caller has.
    Without a warm-up section, the part alone."""
    base = as_upath(parts_dir)
    hashes = dict(known_sha256 or {})

    def sha(key: str, location: UPath) -> str:
        if key not in hashes:
            hashes[key] = sha256_of(location)
        return hashes[key]

    outcomes: dict[str, list[tuple[str, str]] | WarmupError] = {}
    if config.warmup is None:
        for key in keys:
            outcomes[key] = [(key, sha(key, part_location(base, key)))]
        return outcomes
    try:
        ordered = ordered_parts(base)
    except WarmupError as exc:
        return dict.fromkeys(keys, exc)
    located = {p.key: p.location for p in ordered}
    for key in keys:
        try:
            chosen = select_warmup(config.warmup, ordered, key)
        except WarmupError as exc:
            outcomes[key] = exc
            continue
        pairs = [(p.key, sha(p.key, p.location)) for p in chosen]
        outcomes[key] = [*pairs, (key, sha(key, located[key]))]
    return outcomes


def warmup_input_hashes(
    config: BacktestConfig, parts_dir: str | Path | UPath, key: str
) -> list[tuple[str, str]]:
    """``warmup_inputs_by_key`` for one partition; raises ``WarmupError`` when its warm-up
    cannot be resolved."""
    outcome = warmup_inputs_by_key(config, parts_dir, [key])[key]
    if isinstance(outcome, WarmupError):
        raise outcome
    return outcome


def recorded_inputs(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A stored result's inputs as (part, sha256) pairs; a result stored before inputs were
    recorded had its part alone."""
    entries = provenance.get("inputs")
    if entries is None:
        return [(str(provenance["part"]), str(provenance["part_sha256"]))]
    return [(str(entry["part"]), str(entry["sha256"])) for entry in entries]


def stale_inputs(
    config: BacktestConfig,
    parts_dir: str | Path | UPath,
    provenances: Mapping[str, Mapping[str, Any]],
    known_sha256: Mapping[str, str] | None = None,
    sha256_of: Callable[[UPath], str] = _stream_sha256,
) -> dict[str, str]:
    """Stored results (provenance by partition key) whose input files are not the ones this
    config would feed now, each with the reason: the part or a warm-up part changed, the warm-up
    neighbours are other parts (one was added, removed or renamed), or the warm-up cannot be
    resolved any more (re-running fails it, naming what is missing). Up-to-date keys are absent.
    Code inputs (config, strategy, engine) are compared elsewhere (``results.CODE_INPUTS``)."""
    expected = warmup_inputs_by_key(config, parts_dir, sorted(provenances), known_sha256, sha256_of)
    reasons: dict[str, str] = {}
    for key, provenance in sorted(provenances.items()):
        wanted = expected[key]
        if isinstance(wanted, WarmupError):
            reasons[key] = str(wanted)
            continue
        recorded = recorded_inputs(provenance)
        if recorded == wanted:
            continue
        if [part for part, _ in recorded] != [part for part, _ in wanted]:
            reasons[key] = (
                f"inputs are now {', '.join(p for p, _ in wanted)} (the result used"
                f" {', '.join(p for p, _ in recorded)})"
            )
        else:
            changed = [p for (p, old), (_, new) in zip(recorded, wanted, strict=True) if old != new]
            reasons[key] = f"input(s) changed since the result: {', '.join(changed)}"
    return reasons
