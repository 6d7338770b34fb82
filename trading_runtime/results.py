"""A backtest result and its hashes: what a result holds, and what determines it.

A result is a directory (``layout``'s result files) plus what ``result.json`` holds: metrics and
provenance. Provenance records every input that determines the result (``RESULT_INPUTS``) and the
content hash of the files, which is also the result's Dagster data version.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

import trading_runtime
from trading_runtime.adapters import get_adapter
from trading_runtime.config import BacktestConfig
from trading_runtime.data.validate import sha256_file
from trading_runtime.layout import CURVE_FILE, RESULT_FILE
from trading_runtime.strategy_modules import find_module_source, strategy_refusal

__all__ = [
    "CODE_INPUTS",
    "RESULT_INPUTS",
    "RUNTIME_GIT_COMMIT_ENV",
    "BacktestResult",
    "code_inputs",
    "content_hash",
    "file_hashes",
    "result_code_version",
    "runtime_git_commit",
    "strategy_source_hash",
]

# What determines a result besides its part, as provenance fields. Dagster's code version of
# ``backtest_results`` hashes them, the aggregate shows them per part, and the determinism check
# expects identical content when they and the part are unchanged.
CODE_INPUTS = (
    "config_hash",
    "engine",
    "engine_version",
    "framework_sha",
    "runtime_version",
    "strategy_source_hash",
)
RESULT_INPUTS = ("part_sha256", *CODE_INPUTS)
# Set in the runtime image (build arg GIT_COMMIT); unset in a development checkout.
RUNTIME_GIT_COMMIT_ENV = "TRADING_RUNTIME_GIT_COMMIT"


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
    wall_time_s: float = field(default=0.0, compare=False)

    @property
    def content_hash(self) -> str:
        return str(self.provenance["content_hash"])

    def files(self) -> list[Path | UPath]:
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def local_directory(self) -> Path:
        """The run's local output directory (what gets published to storage)."""
        if not isinstance(self.directory, Path):
            raise TypeError(f"result {self.partition} is already stored at {self.directory}")
        return self.directory

    def read_curve(self) -> pa.Table:
        with (self.directory / CURVE_FILE).open("rb") as handle:
            return pq.read_table(handle)

    @classmethod
    def load(cls, directory: Path | UPath) -> BacktestResult:
        """A stored result from its directory (reads ``result.json`` only)."""
        document = json.loads((directory / RESULT_FILE).read_text())
        return cls(
            partition=directory.name,
            directory=directory,
            metrics=document["metrics"],
            provenance=document["provenance"],
        )


def strategy_source_hash(class_path: str) -> str:
    """sha256 of the strategy module's source file, found without importing it or its parent
    packages (``strategy_modules.find_module_source``): this runs in the Dagster process, which
    never imports strategy code. ``unresolved`` when the file cannot be found."""
    refusal = strategy_refusal(class_path)
    if refusal:
        raise ValueError(f"strategy.class_path {refusal}")
    source = find_module_source(class_path.partition(":")[0])
    return sha256_file(source) if source is not None else "unresolved"


def runtime_git_commit() -> str | None:
    return os.environ.get(RUNTIME_GIT_COMMIT_ENV) or None


def code_inputs(
    config: BacktestConfig, engine: str, engine_version: str, framework_sha: str | None
) -> dict[str, Any]:
    """``CODE_INPUTS`` for a config run by the named engine, in this process."""
    return {
        "config_hash": config.config_hash(),
        "engine": engine,
        "engine_version": engine_version,
        "framework_sha": framework_sha,
        "runtime_version": trading_runtime.__version__,
        "strategy_source_hash": strategy_source_hash(config.strategy.class_path),
    }


# How each code input is spelled in the code version's hash: its labels and order are fixed, so
# stored results keep their code version (Dagster would mark them all stale on any change).
_CODE_VERSION_LABELS = {
    "runtime_version": "runtime",
    "engine": "engine",
    "engine_version": "engine_version",
    "framework_sha": "framework_sha",
    "strategy_source_hash": "strategy",
    "config_hash": "config",
}


def result_code_version(config: BacktestConfig) -> str:
    """A short hash of ``CODE_INPUTS``: Dagster marks results stale when it changes."""
    adapter = get_adapter(config.adapter)
    inputs = code_inputs(config, adapter.name, adapter.version(), adapter.framework_sha())
    pieces = [f"{label}={inputs[name]}" for name, label in _CODE_VERSION_LABELS.items()]
    return hashlib.sha256("|".join(pieces).encode()).hexdigest()[:16]


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every result file but ``result.json``, by name."""
    return {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.name != RESULT_FILE}


def content_hash(hashes: dict[str, str]) -> str:
    """Hash of the result's content: every file's name and sha256, in name order."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return digest.hexdigest()
