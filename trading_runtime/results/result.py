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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE, VERSIONS_DIR
from trading_runtime.storage import read_whole

__all__ = ["BacktestResult", "ResultIntegrityError"]


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

    def read_verified(self, name: str) -> bytes:
        """A result file's bytes, checked against the sha256 that ``result.json`` lists."""
        data = read_whole(self.directory / name)
        expected = self.listed_files().get(name)
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and actual != expected:
            raise ResultIntegrityError(
                f"result {self.partition}: {self.directory / name} has sha256 {actual}, but"
                f" result.json lists {expected}; the stored result is damaged"
            )
        return data

    def verify(self) -> None:
        """Every file ``result.json`` lists (chart included) is present with its sha256."""
        for name in sorted(self.listed_files()):
            try:
                self.read_verified(name)
            except FileNotFoundError:
                raise ResultIntegrityError(
                    f"result {self.partition}: {self.directory / name} is missing"
                ) from None

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
        to the current version) and reads nothing else."""
        document = json.loads(read_whole(directory / RESULT_FILE))
        version = document.get("version")
        # Without a version: a result stored before versions existed, files beside result.json.
        files = directory / VERSIONS_DIR / version if version else directory
        return cls(
            partition=directory.name,
            directory=files,
            metrics=document["metrics"],
            provenance=document["provenance"],
        )


class ResultIntegrityError(RuntimeError):
    """A stored result's files do not match the hashes its ``result.json`` lists."""
