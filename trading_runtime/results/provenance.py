"""What a result records about what determined it: the code inputs (config, strategy source,
engine, framework, runtime) and the input files (warm-up parts, then the scored part)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import trading_runtime
from trading_runtime.config import BacktestConfig
from trading_runtime.config.strategy_modules import find_module_source, strategy_refusal
from trading_runtime.data.part_info import PartInfo, sha256_file

__all__ = [
    "CODE_INPUTS",
    "INPUT_ROLE_SCORED",
    "INPUT_ROLE_WARMUP",
    "RESULT_INPUTS",
    "RUNTIME_GIT_COMMIT_ENV",
    "code_inputs",
    "input_entries",
    "inputs_digest",
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
# ``inputs_sha256`` covers every input file (warm-up parts and the scored part, in order).
RESULT_INPUTS = ("part_sha256", "inputs_sha256", "latency_sha256", *CODE_INPUTS)
# Set in the runtime image (build arg GIT_COMMIT); unset in a development checkout.
RUNTIME_GIT_COMMIT_ENV = "TRADING_RUNTIME_GIT_COMMIT"


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


INPUT_ROLE_WARMUP = "warmup"
INPUT_ROLE_SCORED = "scored"


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
