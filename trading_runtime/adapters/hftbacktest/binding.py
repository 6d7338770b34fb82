"""Binding a strategy function's parameters by name (``bind_strategy``).

The first parameter receives hftbacktest's backtest object; every other one is bound by name:
the recorder, the part's end, the scored part's start, engine values and the config's strategy
parameters, else its default. A problem fails with the whole binding spelled out.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trading_runtime.adapters.base import StrategyLoadError
from trading_runtime.config import BacktestConfig, EngineSection

__all__ = [
    "END_TS_PARAMETER",
    "ENGINE_PARAMETERS",
    "RECORDER_PARAMETERS",
    "SCORED_START_TS_PARAMETER",
    "StrategyBinding",
    "bind_strategy",
]

# Filled by the runtime when the strategy declares a parameter of this name.
END_TS_PARAMETER = "end_ts"
# Filled with the scored part's first local timestamp (where a warm-up ends and scoring starts).
SCORED_START_TS_PARAMETER = "scored_start_ts"
# The recorder goes to the parameter of one of these names (hftbacktest's tutorials use both),
# unless ``strategy.recorder_argument`` names another.
RECORDER_PARAMETERS = ("recorder", "stat")


def _roi_bound(name: str) -> Any:
    def bound(engine: EngineSection) -> float | None:
        roi = engine.roi
        return None if roi is None else roi[0 if name == "roi_lb" else 1]

    return bound


# Engine values a strategy may declare by name; bound from the engine section, so they are
# written once. None: the engine has no such value (hash-map depth has no ROI).
ENGINE_PARAMETERS: Mapping[str, Any] = {
    "tick_size": lambda engine: engine.tick_size,
    "lot_size": lambda engine: engine.lot_size,
    "contract_size": lambda engine: engine.contract_size,
    "roi_lb": _roi_bound("roi_lb"),
    "roi_ub": _roi_bound("roi_ub"),
}
_ENGINE_SOURCES = {
    "tick_size": "engine.tick_size",
    "lot_size": "engine.lot_size",
    "contract_size": "engine.contract_size",
    "roi_lb": "engine.depth.roi_lb",
    "roi_ub": "engine.depth.roi_ub",
}


@dataclass(frozen=True)
class StrategyBinding:
    """How each parameter after ``hbt`` is bound: ``(name, source, value)`` in signature order,
    source being ``recorder``, ``end_ts``, ``scored_start_ts``, ``engine``, ``config`` or
    ``default``."""

    class_path: str
    arguments: tuple[tuple[str, str, Any], ...]

    @property
    def takes_recorder(self) -> bool:
        return any(source == "recorder" for _, source, _ in self.arguments)

    def call_arguments(self, recorder: Any) -> tuple[Any, ...]:
        """Arguments after ``hbt``, in order; ``recorder`` where the recorder goes."""
        return tuple(recorder if s == "recorder" else v for _, s, v in self.arguments)


def _source_text(name: str, source: str, recorder_argument: str | None) -> str:
    if source == "recorder":
        via = " (strategy.recorder_argument)" if recorder_argument else ""
        return f"{name} <- the runtime's recorder{via}"
    if source == "end_ts":
        return f"{name} <- the part's last local timestamp"
    if source == "scored_start_ts":
        return f"{name} <- the scored part's first local timestamp (where a warm-up ends)"
    if source == "engine":
        return f"{name} <- {_ENGINE_SOURCES[name]}"
    if source == "default":
        return f"{name} <- its default"
    return f"{name} <- strategy.{name}"


# Parameters the runtime binds (the config may not set them).
_RUNTIME_BOUND = frozenset({END_TS_PARAMETER, SCORED_START_TS_PARAMETER, *ENGINE_PARAMETERS})


def _did_you_mean(name: str, settable: Sequence[str]) -> str:
    """`` (did you mean strategy.<closest>?)`` for a close parameter name, else nothing."""
    close = difflib.get_close_matches(name, settable, n=1)
    return f" (did you mean strategy.{close[0]}?)" if close else ""


def bind_strategy(
    strategy: Any, config: BacktestConfig, end_ts: int, scored_start_ts: int = 0
) -> StrategyBinding:
    """Bind a strategy's parameters by name; the first receives hftbacktest's backtest object.

    After it: the recorder goes to the parameter named ``strategy.recorder_argument``, else to
    one named ``recorder`` or ``stat`` (none: the strategy does not record; the runtime records
    its start and end). ``end_ts`` gets the part's last local timestamp, ``scored_start_ts`` the
    scored part's first (after a warm-up, where scoring starts); ``tick_size``,
    ``lot_size``, ``contract_size``, ``roi_lb`` and ``roi_ub`` the engine's values (the config may
    not set those a second time); every other parameter its ``strategy.<name>``, else its
    default. Every argument is passed explicitly so numba sees one stable signature. A problem
    fails with the whole binding spelled out."""
    class_path = config.strategy.class_path
    python_function = getattr(strategy, "py_func", strategy)
    try:
        signature = inspect.signature(python_function)
    except (TypeError, ValueError) as exc:
        raise StrategyLoadError(f"strategy.class_path {class_path!r} is not a function") from exc
    parameters = list(signature.parameters.values())
    shown = f"strategy {class_path!r}({', '.join(p.name for p in parameters)})"
    # Arguments are passed by position (numba compiles positional signatures).
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or any(p.kind not in positional for p in parameters):
        raise StrategyLoadError(
            f"{shown}: expected a function whose first parameter receives hftbacktest's"
            " backtest (hbt), all parameters positional (no *args, keyword-only or **kwargs)"
        )
    params = dict(config.strategy.params)
    recorder_argument = config.strategy.recorder_argument
    names = [p.name for p in parameters[1:]]
    if recorder_argument is not None:
        recorder_name: str | None = recorder_argument
    else:
        candidates = [name for name in names if name in RECORDER_PARAMETERS]
        if len(candidates) > 1:
            raise StrategyLoadError(
                f"{shown}: both {' and '.join(candidates)} could take the recorder; set"
                " strategy.recorder_argument to the one that does"
            )
        recorder_name = candidates[0] if candidates else None
    problems: list[str] = []
    if recorder_argument is not None and recorder_argument not in names:
        problems.append(
            f"strategy.recorder_argument {recorder_argument!r} is not a parameter"
            f" (it has: {', '.join(names) or 'none after hbt'})"
        )
    unknown = sorted(set(params) - set(names))
    # What a mistyped name may have meant: a parameter the config may set (set already or not:
    # an override's typo sits beside the parameter it meant to change).
    settable = [name for name in names if name != recorder_name and name not in _RUNTIME_BOUND]
    for name in unknown:
        problems.append(f"strategy.{name} is not a parameter{_did_you_mean(name, settable)}")
    arguments: list[tuple[str, str, Any]] = []
    descriptions: list[str] = []
    for parameter in parameters[1:]:
        name = parameter.name
        engine_value = ENGINE_PARAMETERS[name](config.engine) if name in ENGINE_PARAMETERS else None
        if name == recorder_name:
            source, value = "recorder", None
        elif name == END_TS_PARAMETER:
            source, value = "end_ts", end_ts
        elif name == SCORED_START_TS_PARAMETER:
            source, value = "scored_start_ts", scored_start_ts
        elif engine_value is not None:
            source, value = "engine", engine_value
        elif name in params:
            source, value = "config", params[name]
        elif parameter.default is not parameter.empty:
            source, value = "default", parameter.default
        else:
            source, value = "missing", None
        text = _source_text(name, source, recorder_argument)
        taken = source in ("recorder", "end_ts", "scored_start_ts", "engine") and name in params
        if source == "missing":
            text += f" (missing: set strategy.{name} in the config)"
            problems.append(f"{name} is missing")
        elif taken:
            text += f" (strategy.{name} is set too: remove it from the config)"
            problems.append(f"strategy.{name} is bound by the runtime")
        descriptions.append(text)
        arguments.append((name, source, value))
    if problems:
        raise StrategyLoadError(
            f"{shown}: {'; '.join(problems)}. Binding: hbt <- the backtest"
            + "".join(f"; {text}" for text in descriptions)
        )
    return StrategyBinding(class_path, tuple(arguments))
