"""The versioned result store: a partition's result published as a content-addressed version
with ``result.json`` as the pointer to the current one, superseded versions pruned after a grace
period, and stored results listed and loaded (locally or on an object store), in the layout of
``trading_runtime.layout``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from upath import UPath

from trading_runtime.layout import (
    CURVE_FILE,
    EVENT_LOG_FILE,
    RESULT_FILE,
    RESULTS_DIR,
    STATS_FILE,
    SUPERSEDED_GRACE_S,
    VERSIONS_DIR,
)
from trading_runtime.results.canonical import result_version
from trading_runtime.results.result import BacktestResult, ResultIntegrityError
from trading_runtime.storage import as_upath, is_local, read_whole

__all__ = ["load_results", "partitions_dir", "publish_result_files", "stored_result_keys"]

# A superseded version's marker on an object store (no directory times there): its grace starts.
SUPERSEDED_MARKER = ".superseded"
# A crashed writer's or pruner's temporary directory is removed after this long.
ABANDONED_TEMP_S = 86_400.0
# Data files of a result stored before versions existed, directly in the partition's directory.
LEGACY_RESULT_FILES = (CURVE_FILE, STATS_FILE, EVENT_LOG_FILE)
# Object stores answer small reads with latency, not bandwidth: read many result.json at once.
_REMOTE_READ_THREADS = 16


def _current_version(part: Path | UPath) -> str | None:
    try:
        version = json.loads(read_whole(part / RESULT_FILE)).get("version")
    except (FileNotFoundError, ValueError):
        return None
    return str(version) if version else None


def _remove_legacy_files(part: Path | UPath) -> None:
    """Files of a result stored before versions existed belong to a superseded result now."""
    for name in LEGACY_RESULT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (part / name).unlink()


def _remove_superseded_local(part: Path, keep: set[str | None], grace_s: float) -> None:
    """Remove versions no pointer names once superseded for ``grace_s``: a reader may still hold
    the pointer it read before. A version goes by one rename (to ``.doomed-*``), so it is always
    complete or absent; a writer that pointed at it meanwhile gets it back (or stores it again)."""
    _remove_legacy_files(part)
    versions = part / VERSIONS_DIR
    keep = keep | {_current_version(part)}
    now = time.time()
    for child in list(versions.iterdir()):
        try:
            age = now - child.stat().st_mtime
        except FileNotFoundError:
            continue  # another writer removed it first
        if child.name.startswith("."):  # a crashed writer's .incoming-* or pruner's .doomed-*
            if age >= ABANDONED_TEMP_S:
                shutil.rmtree(child, ignore_errors=True)
            continue
        if child.name in keep or age < grace_s:
            continue
        doomed = versions / f".doomed-{uuid.uuid4().hex}"
        try:
            child.rename(doomed)
        except OSError:
            continue
        if _current_version(part) == child.name:  # pointed at again while we looked
            with contextlib.suppress(OSError):
                doomed.rename(child)
        shutil.rmtree(doomed, ignore_errors=True)


def _remove_superseded_remote(part: UPath, keep: set[str | None], grace_s: float) -> None:
    """As ``_remove_superseded_local``; a version's age is its newest object's LastModified (its
    ``.superseded`` marker once replaced). An object store has no rename: the pointer is read
    again just before a version is deleted, which narrows, but cannot close, the window in which
    a writer re-points at it (that writer checks its version afterwards and uploads it again)."""
    _remove_legacy_files(part)
    versions = part / VERSIONS_DIR
    fs = versions.fs
    keep = keep | {_current_version(part)}
    now = time.time()
    for path in fs.ls(versions.path, detail=False, refresh=True):
        name = PurePosixPath(str(path)).name
        if name in keep:
            continue
        try:
            stamps = [i.get("LastModified") for i in fs.find(path, detail=True).values()]
        except FileNotFoundError:
            continue
        known = [stamp.timestamp() for stamp in stamps if stamp is not None]
        if not known or now - max(known) < grace_s or _current_version(part) == name:
            continue
        with contextlib.suppress(FileNotFoundError):
            fs.rm(path, recursive=True)


def _store_version_local(staging: Path, target: Path, keep_staging: bool) -> None:
    """Put a staged result at ``target`` in one rename (complete or not there at all)."""
    incoming = target.with_name(f".incoming-{uuid.uuid4().hex}")
    if keep_staging:
        shutil.copytree(staging, incoming)
    else:
        try:
            staging.rename(incoming)
        except OSError:  # scratch space on another filesystem
            shutil.copytree(staging, incoming)
    os.utime(incoming)  # fresh: pruners judge versions by age
    try:
        incoming.rename(target)
    except OSError:
        shutil.rmtree(incoming, ignore_errors=True)
        if not target.is_dir():
            raise
        # A concurrent writer stored the same bytes first (a version never exists half-made).


def _version_intact(target: Path, listed_sha256: dict[str, str]) -> bool:
    """Every file of a stored version has the sha256 the result being published lists."""
    for name, expected in listed_sha256.items():
        try:
            if hashlib.sha256((target / name).read_bytes()).hexdigest() != expected:
                return False
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
    return True


def _discard_version_local(target: Path) -> None:
    """Remove a version directory in one rename (as the pruner does), then its files."""
    doomed = target.with_name(f".doomed-{uuid.uuid4().hex}")
    try:
        target.rename(doomed)
    except OSError:
        return  # another writer took it first
    shutil.rmtree(doomed, ignore_errors=True)


def _write_pointer_local(part: Path, pointer: bytes) -> None:
    temp = part / f".{RESULT_FILE}.{uuid.uuid4().hex}.tmp"
    try:
        temp.write_bytes(pointer)
        os.replace(temp, part / RESULT_FILE)
    finally:
        temp.unlink(missing_ok=True)


def _upload_version(staging: Path, remote: UPath) -> None:
    for file in sorted(p for p in staging.iterdir() if p.is_file()):
        if file.name != RESULT_FILE:
            (remote / file.name).write_bytes(file.read_bytes())
    # Its own result.json last: a version with it is complete.
    (remote / RESULT_FILE).write_bytes((staging / RESULT_FILE).read_bytes())


def _remote_version_complete(remote: UPath, names: list[str]) -> bool:
    remote.fs.invalidate_cache(remote.path)
    return all(remote.fs.exists(f"{remote.path}/{name}") for name in [*names, RESULT_FILE])


def publish_result_files(
    staging: Path, destination: UPath, grace_s: float = SUPERSEDED_GRACE_S
) -> str:
    """Publish a finished result directory (consumed) as a new version of ``destination`` (the
    partition's directory); the version's name. Versions superseded for ``grace_s`` go.

    The version directory is named by its content and complete before anything points at it;
    the partition's ``result.json`` (the pointer, a copy of the version's with ``version`` added)
    is then replaced in one atomic step: ``os.replace`` locally, a single PUT on an object store.
    Readers see the previous result until then, and writers of the same partition never
    interleave files: each writes its own version, the last pointer wins, both stay complete.
    """
    document_bytes = (staging / RESULT_FILE).read_bytes()
    document = json.loads(document_bytes)
    files = dict(document["provenance"]["files"])
    # The version is named by every byte in it: the result's files and (through result.json,
    # which lists its sha256) the chart, which is no part of the content hash.
    version = result_version({**files, RESULT_FILE: hashlib.sha256(document_bytes).hexdigest()})
    listed = [*files, *document["provenance"].get("charts", {})]
    pointer = (
        json.dumps({**document, "version": version}, sort_keys=True, indent=1) + "\n"
    ).encode()
    if is_local(destination):
        part = Path(destination.path)
        versions = part / VERSIONS_DIR
        versions.mkdir(parents=True, exist_ok=True)
        previous = _current_version(part)
        target = versions / version
        listed_sha256 = {
            **document["provenance"].get("charts", {}),
            **files,
            RESULT_FILE: hashlib.sha256(document_bytes).hexdigest(),
        }
        reused = target.is_dir() and _version_intact(target, listed_sha256)
        if target.is_dir() and not reused:
            # A damaged copy of these very bytes (what re-running a damaged result makes when
            # the engine's output is byte-identical): pointing at it again would keep it damaged.
            _discard_version_local(target)
        if reused:
            os.utime(target)  # in use again: not to be removed as superseded
        else:
            _store_version_local(staging, target, keep_staging=False)
        if previous not in (None, version):
            with contextlib.suppress(FileNotFoundError):  # superseded from now: its grace starts
                os.utime(versions / str(previous))
        _write_pointer_local(part, pointer)
        if reused and not target.is_dir():  # removed by a pruner just before we pointed at it
            _store_version_local(staging, target, keep_staging=True)
        shutil.rmtree(staging, ignore_errors=True)
        _remove_superseded_local(part, {version, previous}, grace_s)
        return version
    previous = _current_version(destination)
    remote = destination / VERSIONS_DIR / version
    # Always uploaded, even when a version of that name exists: a pruner may be deleting it.
    _upload_version(staging, remote)
    if previous not in (None, version):
        (destination / VERSIONS_DIR / str(previous) / SUPERSEDED_MARKER).write_bytes(b"")
    (destination / RESULT_FILE).write_bytes(pointer)
    if not _remote_version_complete(remote, listed):
        _upload_version(staging, remote)
    shutil.rmtree(staging)
    _remove_superseded_remote(destination, {version, previous}, grace_s)
    return version


def partitions_dir(results: str | Path | UPath) -> UPath:
    """The directory that holds ``<part>/result.json``: ``<results>/backtest_results`` (Dagster's
    layout), or ``results`` itself when it holds stored results directly and has no
    ``backtest_results`` (what ``trading-runtime backtest --out DIR`` writes)."""
    base = as_upath(results)
    nested = base / RESULTS_DIR
    if not nested.exists() and _result_keys(base):
        return base
    return nested


def _result_keys(partitions: UPath) -> list[str]:
    # Plain paths locally: UPath costs ~10x per file, which shows at 10,000 partitions.
    root: Path | UPath = Path(partitions.path) if is_local(partitions) else partitions
    try:
        if not root.is_dir():
            return []
        markers = root.glob(f"*/{RESULT_FILE}")
        return sorted({m.parent.name for m in markers if not m.parent.name.startswith(".")})
    except FileNotFoundError:
        return []


def stored_result_keys(
    results: str | Path | UPath, *, partitions: UPath | None = None
) -> list[str]:
    """Partitions with a complete stored result (``result.json`` present), sorted; in
    ``<results>/backtest_results``, or in ``partitions`` when given (``partitions_dir``)."""
    return _result_keys(partitions if partitions is not None else as_upath(results) / RESULTS_DIR)


def load_results(
    results: str | Path | UPath,
    keys: Iterable[str] | None = None,
    *,
    partitions: UPath | None = None,
    damaged: dict[str, ResultIntegrityError] | None = None,
) -> dict[str, BacktestResult]:
    """Stored results (metrics and provenance from ``result.json``; curves stay on storage),
    from ``<results>/backtest_results``, or from ``partitions`` when given. A ``result.json``
    that is not one raises ``ResultIntegrityError`` naming it, or, with ``damaged`` given, is
    put there (by key) and left out."""
    base = partitions if partitions is not None else as_upath(results) / RESULTS_DIR
    wanted = sorted(keys) if keys is not None else _result_keys(base)
    # Plain paths locally: a tenth of UPath's cost per file.
    root: Path | UPath = Path(base.path) if is_local(base) else base

    def load(key: str) -> BacktestResult | ResultIntegrityError:
        try:
            return BacktestResult.load(root / key)
        except ResultIntegrityError as exc:
            if damaged is None:
                raise
            return exc

    if is_local(base):
        loaded = [load(key) for key in wanted]
    else:
        with ThreadPoolExecutor(_REMOTE_READ_THREADS) as pool:
            loaded = list(pool.map(load, wanted))
    found: dict[str, BacktestResult] = {}
    for key, outcome in zip(wanted, loaded, strict=True):
        if isinstance(outcome, BacktestResult):
            found[key] = outcome
        elif damaged is not None:
            damaged[key] = outcome
    return found
