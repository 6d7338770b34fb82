"""A sweep's points validated into variants before anything runs.

Every point is checked, in order, and the first problem is one ``SweepError`` line naming the
sweep file, the point (its index and overrides) and the key:

- values: no NaN or infinity anywhere in a value;
- types: a value of another kind than the one it replaces (a string for a number, a number for a
  boolean...) is refused, checked against the strategy parameter's default when the strategy
  imports here, else against the base config's value; a strategy parameter whose default is an
  integer refuses a float (numba would compile another signature);
- the config model: the overrides applied (``config.apply_overrides``) must validate;
- the strategy's signature: every strategy parameter must be one the strategy takes
  (``adapters.hftbacktest.bind_strategy``);
- duplicates: two points that give the same effective config (same hash) are refused.

``check_partition_budget`` refuses a sweep over Dagster's comfort limit of partitions.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from trading_runtime.config import BacktestConfig, ConfigError, apply_overrides
from trading_runtime.config.model import STRATEGY_KEYS
from trading_runtime.config.rules import non_finite
from trading_runtime.sweeps.errors import MAX_PARTITIONS, SweepError
from trading_runtime.sweeps.sweep_file import SweepFile
from trading_runtime.sweeps.variants import VARIANT_ID_LENGTH, Variant, compact_json

__all__ = ["check_partition_budget", "plan_variants", "strategy_parameter_problem"]

_UNLOADABLE = object()


class _Strategies:
    """Strategies imported once per class path (None: not importable here, the pods check)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def load(self, config: BacktestConfig) -> Any:
        if config.adapter != "hftbacktest":
            return None
        path = config.strategy.class_path
        if path not in self._loaded:
            from trading_runtime.adapters.base import EngineError
            from trading_runtime.adapters.hftbacktest import HftbacktestAdapter

            try:
                self._loaded[path] = HftbacktestAdapter().load_strategy(config)
            except (EngineError, ImportError):
                self._loaded[path] = None
        return self._loaded[path]

    def defaults(self, config: BacktestConfig) -> dict[str, Any]:
        """The strategy's parameters with a default, by name (empty when not importable)."""
        strategy = self.load(config)
        if strategy is None:
            return {}
        try:
            signature = inspect.signature(getattr(strategy, "py_func", strategy))
        except (TypeError, ValueError):
            return {}
        empty = inspect.Parameter.empty
        return {p.name: p.default for p in signature.parameters.values() if p.default is not empty}

    def problem(self, config: BacktestConfig) -> str | None:
        strategy = self.load(config)
        if strategy is None:
            return None
        from trading_runtime.adapters.base import EngineError
        from trading_runtime.adapters.hftbacktest import bind_strategy

        try:
            bind_strategy(strategy, config, 0)
        except EngineError as exc:
            return str(exc)
        return None


def strategy_parameter_problem(config: BacktestConfig) -> str | None:
    """Strategy parameters the strategy does not take (a mistyped override would otherwise fail
    only in the engine). Checked for the hftbacktest adapter when the strategy imports here."""
    return _Strategies().problem(config)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _strategy_name(path: list[str]) -> str | None:
    if path[0] == "strategy" and len(path) == 2 and path[1] not in STRATEGY_KEYS:
        return path[1]
    if path[:2] == ["strategy", "params"] and len(path) == 3:
        return path[2]
    return None


def _base_value(raw: Mapping[str, Any], path: list[str]) -> Any:
    node: Any = raw
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return _UNLOADABLE
        node = node[name]
    return node


def _type_problem(
    key: str, value: Any, raw: Mapping[str, Any], defaults: Mapping[str, Any]
) -> str | None:
    """Why ``value`` cannot replace what ``key`` holds (see the module doc), or None."""
    path = key.split(".")
    name = _strategy_name(path)
    if name is not None and defaults.get(name) is not None:
        expected, said = defaults[name], f"the strategy's default {defaults[name]!r}"
        integer = isinstance(expected, int) and not isinstance(expected, bool)
        if integer and isinstance(value, float):
            return f"{key}: {value!r} is not an integer like {said}"
    else:
        lookup = ["strategy", "params", name] if name is not None else path
        expected, said = _base_value(raw, lookup), "the base config's value"
        if expected is _UNLOADABLE or expected is None:
            return None
        said = f"{said} {expected!r}"
    if _kind(value) != _kind(expected):
        return f"{key}: {value!r} is a {_kind(value)}, expected a {_kind(expected)} like {said}"
    return None


def _one_line(message: str) -> str:
    """A config error's field lines without its header, or a binding's problem without the
    binding spelled out: one line."""
    lines = [line.strip() for line in message.splitlines()]
    text = "; ".join(lines[1:]) if len(lines) > 1 else lines[0]
    return text.split(". Binding: ", 1)[0]


def plan_variants(
    config: BacktestConfig, sweep: SweepFile | None = None, source: str = "<config>"
) -> tuple[Variant, ...]:
    """The variants of a sweep over ``config`` (``source`` names it), in the sweep's order; the
    config itself without a sweep. Every point is validated first (see the module doc)."""
    points: Sequence[Mapping[str, Any]] = sweep.points if sweep is not None else [{}]
    strategies = _Strategies()
    raw = config.model_dump(mode="json")
    defaults = strategies.defaults(config)
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    bound: dict[str, str | None] = {}
    for index, overrides in enumerate(points):
        where = ""
        if sweep is not None:
            where = f"sweep {sweep.source} {sweep.unit} {index} {compact_json(dict(overrides))}: "
        for key in sorted(overrides):
            if non_finite(overrides[key], key):
                raise SweepError(f"{where}{key}: {overrides[key]!r} is not a finite number")
            problem = _type_problem(key, overrides[key], raw, defaults)
            if problem:
                raise SweepError(f"{where}{problem}")
        try:
            effective = apply_overrides(config, overrides, source) if overrides else config
        except ConfigError as exc:
            raise SweepError(f"{where}{_one_line(str(exc))} (base config {source})") from None
        # A binding depends on the strategy parameters' names, not their values: bind once per
        # set of names (and values of the other keys, which may change the engine's).
        binding = compact_json(
            {k: None if _strategy_name(k.split(".")) else v for k, v in overrides.items()}
        )
        if binding not in bound:
            bound[binding] = strategies.problem(effective)
        problem = bound[binding]
        if problem:
            raise SweepError(f"{where}{_one_line(problem)} (base config {source})")
        config_hash = effective.config_hash()
        variant_id = config_hash[:VARIANT_ID_LENGTH]
        if sweep is not None and variant_id in seen:
            first = seen[variant_id]
            plural = "points" if sweep.unit == "point" else "entries"
            raise SweepError(
                f"sweep {sweep.source}: {plural} {first} and {index} give the same config"
                f" ({compact_json(dict(points[first]))} and {compact_json(dict(overrides))});"
                " each variant must differ"
            )
        seen[variant_id] = index
        variants.append(Variant(variant_id, dict(overrides), config_hash))
    return tuple(variants)


def check_partition_budget(points: int, parts: int) -> None:
    """Refuse ``points`` variants x ``parts`` parts over ``MAX_PARTITIONS`` (100,000, Dagster's
    documented comfort limit for one asset's partitions), saying how to split it."""
    total = points * parts
    if total <= MAX_PARTITIONS:
        return
    if parts > MAX_PARTITIONS:
        advice = f"one variant alone has {parts:,} parts; run the parts in smaller sets"
    else:
        most = MAX_PARTITIONS // parts
        files = -(-points // most)
        advice = (
            f"split the sweep into {files} files of at most {most:,} variants each, or run"
            " fewer parts"
        )
    raise SweepError(
        f"sweep of {points:,} variants x {parts:,} parts = {total:,} partitions, over"
        f" Dagster's comfort limit of {MAX_PARTITIONS:,}: {advice}"
    )
