"""Config variants of a batch, from a sweep file in either shape (a grid or a list of override
objects): the loader and planner of ``trading_runtime.sweeps``, their ``SweepError`` raised as
``ArgoError``. A variant id is the first 12 hex digits of the effective config's hash, so one
results directory only ever holds results of one config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trading_runtime.argo.errors import ArgoError
from trading_runtime.config import BacktestConfig
from trading_runtime.sweeps import (
    VARIANT_ID_LENGTH,
    SweepError,
    SweepFile,
    Variant,
    compact_json,
    load_sweep_file,
    strategy_parameter_problem,
)
from trading_runtime.sweeps import plan_variants as _plan_variants

__all__ = [
    "VARIANT_ID_LENGTH",
    "Variant",
    "compact_json",
    "load_sweep",
    "plan_variants",
    "strategy_parameter_problem",
]


def load_sweep(path: str | Path) -> SweepFile:
    """A sweep file, a grid or a JSON list of override objects with dotted keys."""
    try:
        return load_sweep_file(path)
    except SweepError as exc:
        raise ArgoError(str(exc)) from None


def plan_variants(
    config: BacktestConfig,
    sweep: SweepFile | Sequence[Mapping[str, Any]] | None = None,
    source: str = "<config>",
    sweep_source: str = "<sweep>",
) -> tuple[Variant, ...]:
    """The variants of a batch: the config itself without a sweep, else one per point, each
    validated with its overrides applied (errors name the point and the key)."""
    if sweep is not None and not isinstance(sweep, SweepFile):
        sweep = SweepFile(sweep_source, "list", tuple(sweep))
    try:
        return _plan_variants(config, sweep, source)
    except SweepError as exc:
        raise ArgoError(str(exc)) from None
