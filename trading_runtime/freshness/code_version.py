"""Dagster's code version of ``backtest_results``: the code inputs a backtest started now would
record, and the latency files a config reads."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from trading_runtime.adapters import engine_identity
from trading_runtime.config import BacktestConfig
from trading_runtime.data.latency import latency_files_in, latency_files_sha256
from trading_runtime.results.provenance import code_inputs

__all__ = ["current_code_inputs", "latency_files_hash", "result_code_version"]


def current_code_inputs(config: BacktestConfig) -> dict[str, Any]:
    """``CODE_INPUTS`` for ``config`` run by its engine, as a backtest started now records them."""
    version, framework_sha = engine_identity(config.adapter)
    return code_inputs(config, config.adapter, version, framework_sha)


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


def latency_files_hash(config: BacktestConfig, parts_dir: str | Path | None) -> str | None:
    """One hash over the order-latency files ``engine.latency`` may read in a local parts
    directory (``latency.latency_files_in``; a change to one part's file then marks every result
    stale: more than needed, never less), taken as a result's ``latency_sha256`` is. None when
    the config reads no latency file, the parts directory is not local, or it holds none."""
    found = latency_files_in(config, parts_dir)
    return latency_files_sha256(found) if found else None


def result_code_version(config: BacktestConfig, parts_dir: str | Path | None = None) -> str:
    """A short hash of ``CODE_INPUTS`` and, for interpolated latency, of the latency files in
    ``parts_dir`` (``latency_files_hash``): Dagster marks results stale when it changes."""
    inputs = current_code_inputs(config)
    pieces = [f"{label}={inputs[name]}" for name, label in _CODE_VERSION_LABELS.items()]
    latency = latency_files_hash(config, parts_dir)
    if latency is not None:  # absent otherwise: other configs keep their code version
        pieces.append(f"latency={latency}")
    return hashlib.sha256("|".join(pieces).encode()).hexdigest()[:16]
