"""Config variants of a batch: a sweep file's override objects, each validated against the base
config (errors name the entry and the key). A variant id is the first 12 hex digits of the
effective config's hash, so one results directory only ever holds results of one config."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_runtime.argo.errors import ArgoError
from trading_runtime.config import BacktestConfig, ConfigError, apply_overrides

__all__ = [
    "VARIANT_ID_LENGTH",
    "Variant",
    "compact_json",
    "load_sweep",
    "plan_variants",
    "strategy_parameter_problem",
]

VARIANT_ID_LENGTH = 12


def compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Variant:
    """One config of a sweep: the overrides applied to the base config, and the result."""

    id: str
    overrides: Mapping[str, Any]
    config_hash: str

    @property
    def overrides_json(self) -> str:
        return json.dumps(dict(self.overrides), sort_keys=True, separators=(",", ":"))


def load_sweep(path: str | Path) -> list[dict[str, Any]]:
    """A sweep file: a JSON list of override objects with dotted keys, one variant each."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArgoError(f"sweep {path}: file does not exist") from None
    except json.JSONDecodeError as exc:
        raise ArgoError(
            f"sweep {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    example = '[{"strategy.quote_offset_ticks": 1}, {"strategy.quote_offset_ticks": 2}]'
    if not isinstance(raw, list) or not raw:
        raise ArgoError(f"sweep {path}: expected a non-empty JSON list of objects, e.g. {example}")
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ArgoError(
                f"sweep {path}: entry {index} is {type(entry).__name__}, expected an object of"
                f" dotted keys, e.g. {example}"
            )
    return raw


def plan_variants(
    config: BacktestConfig,
    sweep: Sequence[Mapping[str, Any]] | None = None,
    source: str = "<config>",
    sweep_source: str = "<sweep>",
) -> tuple[Variant, ...]:
    """The variants of a batch: the config itself without a sweep, else one per sweep entry,
    each validated with its overrides applied (errors name the entry and the key)."""
    entries: Sequence[Mapping[str, Any]] = sweep if sweep is not None else [{}]
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for index, overrides in enumerate(entries):
        where = f"sweep {sweep_source} entry {index}: " if sweep is not None else ""
        try:
            effective = apply_overrides(config, overrides, source) if overrides else config
        except ConfigError as exc:
            raise ArgoError(f"{where}{exc}") from None
        problem = strategy_parameter_problem(effective)
        if problem:
            given = f"overrides {compact_json(dict(overrides))}" if overrides else "config"
            raise ArgoError(f"{where}backtest config {source} with {given}: {problem}")
        config_hash = effective.config_hash()
        variant_id = config_hash[:VARIANT_ID_LENGTH]
        if variant_id in seen:
            raise ArgoError(
                f"sweep {sweep_source}: entries {seen[variant_id]} and {index} give the same"
                " config; each variant must differ"
            )
        seen[variant_id] = index
        variants.append(Variant(variant_id, dict(overrides), config_hash))
    return tuple(variants)


def strategy_parameter_problem(config: BacktestConfig) -> str | None:
    """Strategy parameters the strategy does not take (a mistyped override would otherwise fail
    only in the pods). Checked for the hftbacktest adapter when the strategy imports here."""
    if config.adapter != "hftbacktest":
        return None
    from trading_runtime.adapters.base import EngineError
    from trading_runtime.adapters.hftbacktest import HftbacktestAdapter, bind_strategy

    try:
        strategy = HftbacktestAdapter().load_strategy(config)
    except (EngineError, ImportError):
        return None  # only in the image; the pods report it
    try:
        bind_strategy(strategy, config, 0)
    except EngineError as exc:
        return str(exc)
    return None
