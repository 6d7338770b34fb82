"""The versioned result store: a partition's result published as a content-addressed version
with ``result.json`` as the pointer to the current one (superseded versions are pruned after a
grace period: ``prune``), and stored results listed and loaded (locally or on an object store),
in the layout of ``trading_runtime.layout``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from upath import UPath

from trading_runtime.layout import (
    RESULT_FILE,
    RESULTS_DIR,
    SUPERSEDED_GRACE_S,
    VERSIONS_DIR,
)
from trading_runtime.results.canonical import result_version
from trading_runtime.results.prune import (
    SUPERSEDED_MARKER,
    current_version,
    doom_local,
    remove_superseded_local,
    remove_superseded_remote,
)
from trading_runtime.results.result import (
    BacktestResult,
    ResultIntegrityError,
    file_sha256,
    result_json_bytes,
)
from trading_runtime.storage import as_upath, is_local

__all__ = ["load_results", "partitions_dir", "publish_result_files", "stored_result_keys"]

# Object stores answer small reads with latency, not bandwidth: read many result.json at once.
_REMOTE_READ_THREADS = 16


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
    own = hashlib.sha256(document_bytes).hexdigest()
    version = result_version({**files, RESULT_FILE: own})
    listed = [*files, *document["provenance"].get("charts", {})]
    pointer = result_json_bytes({**document, "version": version})
    if is_local(destination):
        part = Path(destination.path)
        versions = part / VERSIONS_DIR
        versions.mkdir(parents=True, exist_ok=True)
        previous = current_version(part)
        target = versions / version
        listed_sha256 = {**document["provenance"].get("charts", {}), **files, RESULT_FILE: own}
        reused = target.is_dir() and all(
            file_sha256(target / name) == sha256 for name, sha256 in listed_sha256.items()
        )
        if target.is_dir() and not reused:
            # A damaged copy of these very bytes (what re-running a damaged result makes when
            # the engine's output is byte-identical): pointing at it again would keep it damaged.
            doom_local(target)
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
        remove_superseded_local(part, {version, previous}, grace_s)
        return version
    previous = current_version(destination)
    remote = destination / VERSIONS_DIR / version
    # Always uploaded, even when a version of that name exists: a pruner may be deleting it.
    _upload_version(staging, remote)
    if previous not in (None, version):
        (destination / VERSIONS_DIR / str(previous) / SUPERSEDED_MARKER).write_bytes(b"")
    (destination / RESULT_FILE).write_bytes(pointer)
    if not _remote_version_complete(remote, listed):
        _upload_version(staging, remote)
    shutil.rmtree(staging)
    remove_superseded_remote(destination, {version, previous}, grace_s)
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
