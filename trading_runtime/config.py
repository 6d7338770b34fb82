"""Backtest configuration: pydantic models in the seed's JSON shape, loaded with clear errors.

Data paths and output paths are never part of a config: the runtime supplies them per partition,
so the same config (and the same config hash) applies to every part.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trading_runtime.strategy_modules import strategy_refusal

__all__ = [
    "EXAMPLE_CONFIGS",
    "FRAMEWORK_FIXES",
    "MAX_ROI_LEVELS",
    "BacktestConfig",
    "ConfigError",
    "EngineSection",
    "FrameworkFix",
    "MaxLoss",
    "NotionalLimits",
    "OrderRateLimits",
    "PositionLimits",
    "QuoteLimits",
    "RiskSection",
    "StrategySection",
    "WarmupSection",
    "apply_overrides",
    "example_config_path",
    "load_config",
    "parse_config",
]

# Keys the seed's config carried that now belong to the runtime.
_RUNTIME_SUPPLIED = {"data_files", "stats_npz_path", "event_bus_path"}

# hftbacktest passes integers to Rust as 64-bit; a larger one fails inside the engine.
_INT64_MAX = 2**63 - 1
# hftbacktest's ROI depth holds one slot per price level between roi_lb and roi_ub, in several
# arrays: 10 million levels cost about 160 MB more per worker (measured: 1e8 levels took 1.9 GB,
# 1e10 aborted the worker on a failed 80 GB allocation).
MAX_ROI_LEVELS = 10_000_000


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field path."""


class _Strict(BaseModel):
    # strict: a JSON document's types are meant as written (``true`` is not the number 1, "5"
    # is not 5); NaN and infinity are never a usable setting.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _non_finite(value: Any, path: str) -> list[str]:
    """Dotted paths of NaN/infinite floats inside free-form values (JSON serialises them as
    null, so the engine worker, which receives the config as JSON, would see another config)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path} = {value}"]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _non_finite(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [hit for i, item in enumerate(value) for hit in _non_finite(item, f"{path}[{i}]")]
    return []


def _require_finite(value: Any, path: str) -> Any:
    found = _non_finite(value, path)
    if found:
        raise ValueError(f"{', '.join(found)}: numbers must be finite")
    return value


# Fixes the trading-platform adapter can apply around the pinned framework (see
# trading_runtime.adapters.framework_fixes); the order here is the order they are applied in.
FrameworkFix = Literal[
    "clear_inactive_orders",
    "hftbacktest_error_codes",
    "hftbacktest_status_codes",
    "hftbacktest_time_in_force",
    "unacknowledged_orders",
]
FRAMEWORK_FIXES: tuple[str, ...] = get_args(FrameworkFix)


class EngineSection(_Strict):
    """hftbacktest asset parameters (mirrors trading-platform's HftEngineConfig minus paths)."""

    instrument: str = Field(min_length=1)
    tick_size: float = Field(gt=0)
    lot_size: float = Field(gt=0)
    contract_size: float = Field(gt=0)
    maker_fee_rate: float
    taker_fee_rate: float
    entry_latency_ns: int = Field(ge=0, le=_INT64_MAX)
    response_latency_ns: int = Field(ge=0, le=_INT64_MAX)
    use_risk_adverse_queue_model: bool
    partial_fill_venue: bool
    max_steps: int = Field(
        gt=0, le=_INT64_MAX, description="capacity of the recorder (records per part)"
    )
    last_trades_capacity: int = Field(ge=0, le=_INT64_MAX)
    max_price_tick_levels: int = Field(ge=0, le=_INT64_MAX)
    roi_lb: float
    roi_ub: float
    initial_snapshot: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_paths(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(_RUNTIME_SUPPLIED & set(data))
            if found:
                raise ValueError(
                    f"{', '.join(found)} must not be in the config: the runtime supplies data and"
                    " output paths per partition"
                )
        return data

    @model_validator(mode="after")
    def _check_roi(self) -> EngineSection:
        if self.roi_lb >= self.roi_ub:
            raise ValueError(f"roi_lb ({self.roi_lb}) must be below roi_ub ({self.roi_ub})")
        levels = (self.roi_ub - self.roi_lb) / self.tick_size
        if levels > MAX_ROI_LEVELS:
            raise ValueError(
                f"roi_lb..roi_ub ({self.roi_lb:g}..{self.roi_ub:g}) spans {levels:.3g} price"
                f" levels of tick_size {self.tick_size:g}; hftbacktest allocates memory for every"
                f" level, at most {MAX_ROI_LEVELS:,} are allowed: narrow the range to the"
                " prices the data holds"
            )
        return self

    # Opt-in fixes around trading-platform (adapter trading-platform only). Left out of the
    # config's JSON when empty, so configs without fixes keep their hash.
    framework_fixes: tuple[FrameworkFix, ...] = Field(
        default=(), exclude_if=lambda fixes: not fixes
    )

    @field_validator("framework_fixes", mode="before")
    @classmethod
    def _known_fixes_once(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = tuple(value)  # a JSON array (strict mode takes only tuples)
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            return value  # let field validation report the wrong type
        unknown = sorted(set(value) - set(FRAMEWORK_FIXES))
        if unknown:
            raise ValueError(
                f"unknown fix(es) {', '.join(map(repr, unknown))}; known fixes:"
                f" {', '.join(FRAMEWORK_FIXES)}"
            )
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} listed more than once")
        # One spelling per set of fixes: the same fixes give the same config hash.
        return tuple(name for name in FRAMEWORK_FIXES if name in value)


class StrategySection(BaseModel):
    """``class_path`` ("module:attr") plus parameters; flat extra keys become parameters.

    ``class_path``'s module must be under ``TRADING_RUNTIME_STRATEGY_MODULES``; it is only ever
    imported by the engine workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("class_path")
    @classmethod
    def _allowed_module(cls, class_path: str) -> str:
        # Refused by name, before anything imports it (see trading_runtime.strategy_modules).
        refusal = strategy_refusal(class_path)
        if refusal:
            raise ValueError(refusal)
        return class_path

    @model_validator(mode="before")
    @classmethod
    def _collect_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        explicit = data.get("params") or {}
        if not isinstance(explicit, dict):
            return data  # let field validation report the wrong type
        flat = {k: v for k, v in data.items() if k not in {"class_path", "params"}}
        both = sorted(set(flat) & set(explicit))
        if both:
            raise ValueError(f"{', '.join(both)} given both flat and under params; keep one")
        collected: dict[str, Any] = {"params": {**explicit, **flat}}
        if "class_path" in data:
            collected["class_path"] = data["class_path"]
        return collected


class PositionLimits(_Strict):
    currency: str = Field(min_length=1)
    max_position: float | None = Field(default=None, ge=0)


class NotionalLimits(_Strict):
    currency: str = Field(min_length=1)
    max_gross_notional: float | None = Field(default=None, ge=0)
    max_single_order_notional: float | None = Field(default=None, ge=0)


class QuoteLimits(_Strict):
    currency: str = Field(min_length=1)
    max_gross_quote_notional: float | None = Field(default=None, ge=0)
    max_net_quote_notional: float | None = None
    max_active_quotes: int | None = Field(default=None, ge=0, le=_INT64_MAX)


class OrderRateLimits(_Strict):
    max_orders_per_second: float | None = Field(default=None, ge=0)
    max_cancels_per_second: float | None = Field(default=None, ge=0)


class MaxLoss(_Strict):
    currency: str = Field(min_length=1)
    max_drawdown: float = Field(lt=0)
    rolling_loss: float | None = Field(default=None, lt=0)
    rolling_loss_window: float | None = Field(default=None, gt=0)


class RiskSection(_Strict):
    """Risk limits, enforced by trading-platform's risk engine (the hftbacktest adapter records
    them and leaves enforcement to the strategy)."""

    scope: str = Field(min_length=1)
    trading_enabled: bool = True
    position_limits: PositionLimits | None = None
    notional_limits: NotionalLimits | None = None
    quote_limits: QuoteLimits | None = None
    order_rate_limits: OrderRateLimits | None = None
    max_loss: MaxLoss | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra")
    @classmethod
    def _finite_extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _require_finite(value, "extra")


class WarmupSection(_Strict):
    """Earlier parts fed to the engine before the scored part, in one backtest: the previous
    ``parts`` parts, or as many as it takes to reach ``duration_ns`` back from the scored part's
    start (exactly one of the two). Parts are ordered by their first timestamp; see
    ``trading_runtime.warmup``."""

    parts: int | None = Field(default=None, ge=1, le=_INT64_MAX)
    duration_ns: int | None = Field(default=None, gt=0, le=_INT64_MAX)
    # A longer gap between two consecutive inputs fails the part (None: gaps are not checked).
    max_gap_ns: int | None = Field(default=None, ge=0, le=_INT64_MAX)

    @model_validator(mode="after")
    def _exactly_one(self) -> WarmupSection:
        if (self.parts is None) == (self.duration_ns is None):
            raise ValueError(
                "set exactly one of parts (the previous N parts) and duration_ns (enough previous"
                " parts to cover that many nanoseconds)"
            )
        return self


class BacktestConfig(_Strict):
    """One backtest: engine parameters, strategy, risk, and which adapter runs it."""

    id: str = Field(min_length=1)
    description: str = ""
    adapter: Literal["hftbacktest", "trading-platform"] = "hftbacktest"
    engine: EngineSection
    strategy: StrategySection
    risk: RiskSection
    warmup: WarmupSection | None = None

    @field_validator("strategy")
    @classmethod
    def _finite_params(cls, value: StrategySection) -> StrategySection:
        _require_finite(dict(value.params), "params")
        return value

    @model_validator(mode="after")
    def _fixes_need_the_framework(self) -> BacktestConfig:
        if self.engine.framework_fixes and self.adapter != "trading-platform":
            raise ValueError(
                "engine.framework_fixes patch the trading-platform framework; adapter"
                f" {self.adapter!r} does not run it: remove them or set adapter"
                ' "trading-platform"'
            )
        return self

    def canonical_json(self) -> str:
        """Key-sorted, whitespace-free JSON of everything but ``description`` (prose that cannot
        change a result): the bytes the config hash is taken over."""
        content = self.model_dump(mode="json", exclude={"description"})
        if content.get("warmup") is None:  # configs without warm-up keep their hash
            content.pop("warmup", None)
        return json.dumps(content, sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "<root>"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "missing field"
        lines.append(f"{location}: {message}")
    return f"invalid backtest config {source}:\n  " + "\n  ".join(lines)


def parse_config(raw: Any, source: str = "<config>") -> BacktestConfig:
    try:
        return BacktestConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_config(path: str | Path) -> BacktestConfig:
    """Load and validate a JSON config; every error names the file and the field path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"backtest config {path}: file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"backtest config {path}: cannot read ({exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"backtest config {path}: not valid JSON (line {exc.lineno}, column {exc.colno}:"
            f" {exc.msg})"
        ) from None
    return parse_config(raw, str(path))


def apply_overrides(
    config: BacktestConfig, overrides: Mapping[str, Any], source: str = "<config>"
) -> BacktestConfig:
    """The config with dotted-key overrides applied (``{"strategy.quote_offset_ticks": 2}``),
    validated again; a key that names no field fails with the key in the message.

    Strategy parameters may be named flat (``strategy.skew``) or under ``strategy.params``.
    """
    raw = config.model_dump(mode="json")
    for dotted, value in sorted(overrides.items()):
        path = dotted.split(".")
        if not all(path):
            raise ConfigError(
                f"override {dotted!r}: expected a dotted key such as engine.tick_size"
            )
        if path[0] == "strategy" and len(path) == 2 and path[1] not in ("class_path", "params"):
            path = ["strategy", "params", path[1]]
        node = raw
        for depth, name in enumerate(path[:-1]):
            child = node.get(name)
            if child is None and name in node:  # an optional section not set in the config
                child = node[name] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"override {dotted!r}: {where} is not a section of the config")
            node = child
        node[path[-1]] = value
    with_overrides = f"{source} with overrides {json.dumps(dict(sorted(overrides.items())))}"
    return parse_config(raw, with_overrides)


EXAMPLE_CONFIGS = {
    "hftbacktest": "hftbacktest_market_maker.json",
    "trading-platform": "trading_platform_market_maker.json",
}


def example_config_path(adapter: str = "hftbacktest") -> Path:
    """Path of the example config shipped with the package for an adapter."""
    resource = resources.files("trading_runtime") / "configs" / EXAMPLE_CONFIGS[adapter]
    return Path(str(resource))
