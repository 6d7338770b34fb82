"""Pruning the versioned result store (``store``): versions no pointer names, once superseded
for a grace period, and files of results stored before versions existed. A local version goes
by one rename (to ``.doomed-*``), so it is always complete or absent."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import uuid
from pathlib import Path, PurePosixPath

from upath import UPath

from trading_runtime.layout import CURVE_FILE, EVENT_LOG_FILE, RESULT_FILE, STATS_FILE, VERSIONS_DIR
from trading_runtime.storage import read_whole

__all__ = [
    "SUPERSEDED_MARKER",
    "current_version",
    "doom_local",
    "remove_superseded_local",
    "remove_superseded_remote",
]

# A superseded version's marker on an object store (no directory times there): its grace starts.
SUPERSEDED_MARKER = ".superseded"
# A crashed writer's or pruner's temporary directory is removed after this long.
ABANDONED_TEMP_S = 86_400.0
# Data files of a result stored before versions existed, directly in the partition's directory.
LEGACY_RESULT_FILES = (CURVE_FILE, STATS_FILE, EVENT_LOG_FILE)


def doom_local(version: Path, unless_current: Path | None = None) -> None:
    """Remove a local version directory: one rename out of the way, then its files. With
    ``unless_current`` (the partition), it is put back if the pointer names it meanwhile."""
    doomed = version.with_name(f".doomed-{uuid.uuid4().hex}")
    try:
        version.rename(doomed)
    except OSError:
        return  # another writer or pruner took it first
    if unless_current is not None and current_version(unless_current) == version.name:
        with contextlib.suppress(OSError):
            doomed.rename(version)
    shutil.rmtree(doomed, ignore_errors=True)


def current_version(part: Path | UPath) -> str | None:
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


def remove_superseded_local(part: Path, keep: set[str | None], grace_s: float) -> None:
    """Remove versions no pointer names once superseded for ``grace_s``: a reader may still hold
    the pointer it read before. A version goes by one rename (to ``.doomed-*``), so it is always
    complete or absent; a writer that pointed at it meanwhile gets it back (or stores it again)."""
    _remove_legacy_files(part)
    versions = part / VERSIONS_DIR
    keep = keep | {current_version(part)}
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
        doom_local(child, unless_current=part)


def remove_superseded_remote(part: UPath, keep: set[str | None], grace_s: float) -> None:
    """As ``remove_superseded_local``; a version's age is its newest object's LastModified (its
    ``.superseded`` marker once replaced). An object store has no rename: the pointer is read
    again just before a version is deleted, which narrows, but cannot close, the window in which
    a writer re-points at it (that writer checks its version afterwards and uploads it again)."""
    _remove_legacy_files(part)
    versions = part / VERSIONS_DIR
    fs = versions.fs
    keep = keep | {current_version(part)}
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
        if not known or now - max(known) < grace_s or current_version(part) == name:
            continue
        with contextlib.suppress(FileNotFoundError):
            fs.rm(path, recursive=True)
