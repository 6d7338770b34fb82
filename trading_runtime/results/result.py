"""A backtest result: its files (``layout``'s result files) plus what ``result.json`` holds,
metrics and provenance.

Provenance records every input that determines the result (``provenance.RESULT_INPUTS``), each
file's sha256 (``files``: the raw bytes, checked by readers), and the content hash
(``canonical``). A result's chart (``charts``: its sha256 by name, checked by readers too) is a
view drawn from the curve: it is stored in the same version but stays out of the content hash.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE, VERSIONS_DIR
from trading_runtime.results.canonical import result_version
from trading_runtime.storage import read_whole

__all__ = ["BacktestResult", "ResultIntegrityError", "Sha256Of", "file_sha256", "result_json_bytes"]

# A file's sha256, None when it does not exist (``freshness.part_hashes.PartHashCache.sha256``
# caches it by size and mtime).
Sha256Of = Callable[[Path | UPath], str | None]


def result_json_bytes(document: dict[str, Any]) -> bytes:
    """A ``result.json`` as the runtime writes every one (the run's, a version's, a pointer)."""
    return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode()


def file_sha256(path: Path | UPath) -> str | None:
    """A file's sha256; None when it does not exist."""
    try:
        return hashlib.sha256(read_whole(path)).hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class BacktestResult:
    """One part's result: files in ``directory`` plus what ``result.json`` holds.

    ``directory`` is a local ``Path`` right after a run, or a ``UPath`` (any filesystem) when the
    IO manager loads a stored result; the curve is read only on demand.
    """

    partition: str
    directory: Path | UPath
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    # The worker's time: the backtest (on the timeout's clock) and its start-up before it
    # (validation, compilation); neither is part of the result's content.
    wall_time_s: float = field(default=0.0, compare=False)
    startup_s: float = field(default=0.0, compare=False)
    # The version's own document as the pointer that named this result holds it (the pointer is
    # that document with ``version`` added); None for a result without a version.
    pointer_document: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def content_hash(self) -> str:
        return str(self.provenance["content_hash"])

    def files(self) -> list[Path | UPath]:
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def listed_files(self) -> dict[str, str]:
        """sha256 by name of every file ``result.json`` lists: the result's files and its charts."""
        return {**self.provenance.get("charts", {}), **self.provenance.get("files", {})}

    @property
    def chart_path(self) -> Path | UPath | None:
        """The result's chart (``chart.png``), None for a result stored without one."""
        charts = self.provenance.get("charts", {})
        return self.directory / CHART_FILE if CHART_FILE in charts else None

    @property
    def version(self) -> str | None:
        """The stored version's name (its directory under ``versions/``), None for a result
        stored before versions existed or not stored yet."""
        return self.directory.name if self.directory.parent.name == VERSIONS_DIR else None

    def _relative(self, name: str) -> str:
        """A file's path within its partition's directory, for short messages."""
        return f"{VERSIONS_DIR}/{self.version}/{name}" if self.version else name

    def _damaged(self, name: str, actual: str | None, expected: str) -> ResultIntegrityError:
        path = self.directory / name
        if actual is None:
            return ResultIntegrityError(
                f"result {self.partition}: {path} is missing", f"{self._relative(name)} missing"
            )
        return ResultIntegrityError(
            f"result {self.partition}: {path} has sha256 {actual}, but result.json lists"
            f" {expected}; the stored result is damaged",
            f"{self._relative(name)} altered",
        )

    def read_verified(self, name: str) -> bytes:
        """A result file's bytes, checked against the sha256 that ``result.json`` lists."""
        data = read_whole(self.directory / name)
        expected = self.listed_files().get(name)
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and actual != expected:
            raise self._damaged(name, actual, expected)
        return data

    def verify(self, sha256_of: Sha256Of | None = None) -> None:
        """Every file ``result.json`` lists (chart included) is present with its sha256, and a
        version's own ``result.json`` is the one its name was made from; else a
        ``ResultIntegrityError`` naming the file. ``sha256_of``: how a file is hashed (e.g. a
        cache by size and mtime); by default each file is read in full."""
        hash_of = sha256_of or file_sha256
        if self.version is not None and not self.directory.is_dir():
            raise ResultIntegrityError(
                f"result {self.partition}: version directory {self.directory} is missing",
                f"{VERSIONS_DIR}/{self.version} missing",
            )
        for name, expected in sorted(self.listed_files().items()):
            actual = hash_of(self.directory / name)
            if actual != expected:
                raise self._damaged(name, actual, expected)
        if self.version is not None:
            own = hash_of(self.directory / RESULT_FILE)
            files = dict(self.provenance.get("files", {}))
            if own is None or result_version({**files, RESULT_FILE: own}) != self.version:
                raise self._damaged(RESULT_FILE, own, f"the one version {self.version} names")
            # The pointer is what readers take metrics and provenance from: a byte changed in it
            # that still parses (a digit of a metric, of the content hash) is damage too.
            if self.pointer_document is not None and not self._pointer_matches_version(own):
                pointer = self.directory.parent.parent / RESULT_FILE
                raise ResultIntegrityError(
                    f"result {self.partition}: {pointer} is not the {RESULT_FILE} of version"
                    f" {self.version} it names; the stored result is damaged",
                    f"{RESULT_FILE} altered",
                )

    def _pointer_matches_version(self, own_sha256: str) -> bool:
        """The pointer holds the version's document: serialised as publishing writes it, it has
        the version file's sha256 (no file read); else, a version written another way (an
        older writer), the two documents are compared as read."""
        serialised = result_json_bytes(self.pointer_document or {})
        if hashlib.sha256(serialised).hexdigest() == own_sha256:
            return True
        try:
            return bool(
                json.loads(read_whole(self.directory / RESULT_FILE)) == self.pointer_document
            )
        except (OSError, ValueError):
            return False

    def local_directory(self) -> Path:
        """The run's local output directory (what gets published to storage)."""
        if not isinstance(self.directory, Path):
            raise TypeError(f"result {self.partition} is already stored at {self.directory}")
        return self.directory

    def read_curve(self) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read_verified(CURVE_FILE)))

    def read_chart(self) -> bytes | None:
        """The chart's PNG bytes (verified), None for a result stored without a chart."""
        return self.read_verified(CHART_FILE) if self.chart_path is not None else None

    @classmethod
    def load(cls, directory: Path | UPath) -> BacktestResult:
        """A stored result from its partition's directory: follows ``result.json`` (the pointer
        to the current version) and reads nothing else. A ``result.json`` that is not one
        (truncated, foreign) is a ``ResultIntegrityError`` naming it; a missing one is
        ``FileNotFoundError``."""
        pointer = directory / RESULT_FILE
        data = read_whole(pointer)
        try:
            document = json.loads(data)
            version = document.get("version")
            metrics, provenance = document["metrics"], document["provenance"]
            if not isinstance(metrics, dict) or not isinstance(provenance, dict):
                raise TypeError("metrics and provenance are not objects")
            if version is not None and not isinstance(version, str):
                raise TypeError("version is not a string")
        except (ValueError, AttributeError, KeyError, TypeError) as exc:
            why = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
            raise ResultIntegrityError(
                f"result {directory.name}: {pointer} is not a result.json ({why});"
                " the stored result is damaged",
                f"{RESULT_FILE} unreadable",
            ) from None
        # Without a version: a result stored before versions existed, files beside result.json.
        files = directory / VERSIONS_DIR / version if version else directory
        own = {key: value for key, value in document.items() if key != "version"}
        return cls(
            partition=directory.name,
            directory=files,
            metrics=metrics,
            provenance=provenance,
            pointer_document=own if version else None,
        )


class ResultIntegrityError(RuntimeError):
    """A stored result is damaged: a file its ``result.json`` lists is missing or has other
    bytes, or ``result.json`` is not one. The message (one line) names the file; ``what`` says
    it in a few words relative to the partition's directory (``versions/<v>/curve.parquet
    altered``), as the plan's reason ``damaged: <what>``."""

    def __init__(self, message: str, what: str | None = None) -> None:
        super().__init__(message)
        self.what = what or message
