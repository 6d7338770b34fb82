"""Whether a partition's stored result is still what a backtest would produce now.

A result is up to date when every input its provenance records equals the input as it is now:
the part file's sha256 (``part_sha256``), each further input file's sha256 when the provenance
lists them (``inputs``: ``[{"part", "sha256", "role"}, ...]``, e.g. warm-up parts), and every
code input (``results.CODE_INPUTS``: config, strategy source, engine and its version, framework
SHA, runtime version). ``stale_reason`` says why not, in words a person reads in the CLI's
output; it knows nothing of Dagster, which supplies only whether the last attempt failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trading_runtime.results import CODE_INPUTS

__all__ = [
    "FAILED",
    "NOT_RECORDED",
    "NO_RESULT",
    "CurrentInputs",
    "stale_reason",
]

NO_RESULT = "no result"
FAILED = "last run failed"
NOT_RECORDED = "not recorded in the Dagster instance"

# How a changed code input reads, by provenance field (order: the most likely cause first).
_CHANGED = {
    "config_hash": "config changed",
    "strategy_source_hash": "strategy source changed",
    "engine": "engine changed",
    "engine_version": "engine version changed",
    "framework_sha": "framework changed",
    "runtime_version": "runtime version changed",
}
assert set(_CHANGED) == set(CODE_INPUTS), "a code input without a reason"


@dataclass(frozen=True)
class CurrentInputs:
    """What a backtest of ``part`` would use now.

    ``code``: ``CODE_INPUTS`` as they are now (``code_version.current_code_inputs``).
    ``sha256_of``: the current sha256 of a part file by partition key, None when there is no
    such file (called only for the inputs a stored result lists, so a caller may hash lazily).
    ``last_run_failed``: the latest attempt to materialize the partition failed.
    ``recorded``: the Dagster instance has a materialization of the partition.
    """

    part: str
    code: Mapping[str, Any]
    sha256_of: Callable[[str], str | None]
    last_run_failed: bool = False
    recorded: bool = True


def _input_reason(stored: Mapping[str, Any], current: CurrentInputs) -> str | None:
    own = current.sha256_of(current.part)
    if own is None:
        return "part file gone"
    if stored.get("part_sha256") != own:
        return "part changed"
    for entry in stored.get("inputs") or ():
        key = str(entry.get("part"))
        if key == current.part and entry.get("sha256") == own:
            continue
        role = entry.get("role") or "input"
        now = current.sha256_of(key)
        if now is None:
            return f"{role} {key} gone"
        if entry.get("sha256") != now:
            return f"{role} {key} changed"
    return None


def stale_reason(stored: Mapping[str, Any] | None, current: CurrentInputs) -> str | None:
    """Why the partition must run again, or None when its stored result is up to date.

    ``stored``: the stored result's provenance (``result.json``), None when there is none.
    """
    if stored is None:
        return NO_RESULT
    if current.last_run_failed:
        return FAILED
    reason = _input_reason(stored, current)
    if reason is not None:
        return reason
    for name in CODE_INPUTS:
        if stored.get(name) != current.code[name]:
            return _CHANGED[name]
    if not current.recorded:
        return NOT_RECORDED
    return None
