"""The config's sections besides the engine (strategy, risk, warm-up) and the whole config,
``BacktestConfig``, with the checks that depend on which adapter runs it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading_runtime.config.canonical import canonical_json, config_hash
from trading_runtime.config.engine import EngineSection
from trading_runtime.config.framework_limits import (
    CANNOT_EXPRESS,
    framework_engine_problems,
    platform_only_problems,
)
from trading_runtime.config.rules import INT64_MAX, StrictModel, require_finite
from trading_runtime.config.strategy_modules import strategy_refusal

__all__ = [
    "STRATEGY_KEYS",
    "BacktestConfig",
    "MaxLoss",
    "NotionalLimits",
    "OrderRateLimits",
    "PositionLimits",
    "QuoteLimits",
    "RiskSection",
    "StrategySection",
    "WarmupSection",
]

# The strategy section's own keys; any other key is a strategy parameter.
STRATEGY_KEYS = frozenset({"class_path", "params", "recorder_argument"})


class StrategySection(BaseModel):
    """``class_path`` ("module:attr") plus parameters; flat extra keys become parameters
    (``recorder_argument`` is reserved: see the field).

    ``class_path``'s module must be under ``TRADING_RUNTIME_STRATEGY_MODULES``; it is only ever
    imported by the engine workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_path: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict)
    # The hftbacktest adapter passes its recorder to the parameter named ``recorder`` or
    # ``stat``; this names another one.
    recorder_argument: str | None = Field(default=None, pattern=r"^[A-Za-z_]\w*$")

    @field_validator("class_path")
    @classmethod
    def _allowed_module(cls, class_path: str) -> str:
        # Refused by name, before anything imports it (see trading_runtime.config.strategy_modules).
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
        flat = {k: v for k, v in data.items() if k not in STRATEGY_KEYS}
        both = sorted(set(flat) & set(explicit))
        if both:
            raise ValueError(f"{', '.join(both)} given both flat and under params; keep one")
        collected: dict[str, Any] = {"params": {**explicit, **flat}}
        for key in STRATEGY_KEYS - {"params"}:
            if key in data:
                collected[key] = data[key]
        return collected


class PositionLimits(StrictModel):
    currency: str = Field(min_length=1)
    max_position: float | None = Field(default=None, ge=0)


class NotionalLimits(StrictModel):
    currency: str = Field(min_length=1)
    max_gross_notional: float | None = Field(default=None, ge=0)
    max_single_order_notional: float | None = Field(default=None, ge=0)


class QuoteLimits(StrictModel):
    currency: str = Field(min_length=1)
    max_gross_quote_notional: float | None = Field(default=None, ge=0)
    max_net_quote_notional: float | None = None
    max_active_quotes: int | None = Field(default=None, ge=0, le=INT64_MAX)


class OrderRateLimits(StrictModel):
    max_orders_per_second: float | None = Field(default=None, ge=0)
    max_cancels_per_second: float | None = Field(default=None, ge=0)


class MaxLoss(StrictModel):
    currency: str = Field(min_length=1)
    max_drawdown: float = Field(lt=0)
    rolling_loss: float | None = Field(default=None, lt=0)
    rolling_loss_window: float | None = Field(default=None, gt=0)


class RiskSection(StrictModel):
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
        return require_finite(value, "extra")


class WarmupSection(StrictModel):
    """Earlier parts fed to the engine before the scored part, in one backtest: the previous
    ``parts`` parts, or as many as it takes to reach ``duration_ns`` back from the scored part's
    start (exactly one of the two). Parts are ordered by their first timestamp; see
    ``trading_runtime.data.order``."""

    parts: int | None = Field(default=None, ge=1, le=INT64_MAX)
    duration_ns: int | None = Field(default=None, gt=0, le=INT64_MAX)
    # A longer gap between two consecutive inputs fails the part (None: gaps are not checked).
    max_gap_ns: int | None = Field(default=None, ge=0, le=INT64_MAX)

    @model_validator(mode="after")
    def _exactly_one(self) -> WarmupSection:
        if (self.parts is None) == (self.duration_ns is None):
            raise ValueError(
                "set exactly one of parts (the previous N parts) and duration_ns (enough previous"
                " parts to cover that many nanoseconds)"
            )
        return self


class BacktestConfig(StrictModel):
    """One backtest: engine parameters, strategy, risk, and which adapter runs it."""

    id: str = Field(min_length=1)
    description: str = ""
    adapter: Literal["hftbacktest", "trading-platform"] = "hftbacktest"
    engine: EngineSection
    strategy: StrategySection
    # Validated when absent too: the trading-platform adapter requires it.
    risk: RiskSection | None = Field(default=None, validate_default=True)
    warmup: WarmupSection | None = None

    @field_validator("engine")
    @classmethod
    def _engine_for_adapter(cls, engine: EngineSection, info: ValidationInfo) -> EngineSection:
        if info.data.get("adapter") == "trading-platform":
            problems = framework_engine_problems(engine)
            if problems:
                raise ValueError(f"{CANNOT_EXPRESS}: {'; '.join(problems)}")
        else:
            problems = platform_only_problems(engine, info.data.get("adapter"))
            if problems:
                raise ValueError("; ".join(problems))
        return engine

    @field_validator("strategy")
    @classmethod
    def _finite_params(cls, value: StrategySection, info: ValidationInfo) -> StrategySection:
        require_finite(dict(value.params), "params")
        if info.data.get("adapter") == "trading-platform" and value.recorder_argument:
            raise ValueError(f"{CANNOT_EXPRESS}: recorder_argument (hftbacktest adapter only)")
        return value

    @field_validator("risk")
    @classmethod
    def _risk_for_adapter(cls, risk: RiskSection | None, info: ValidationInfo) -> Any:
        if risk is None and info.data.get("adapter") == "trading-platform":
            raise ValueError(
                "missing section (the trading-platform adapter's risk engine needs it)"
            )
        return risk

    def canonical_json(self) -> str:
        """Key-sorted, whitespace-free JSON of everything but ``description`` (prose that cannot
        change a result): the bytes the config hash is taken over."""
        return canonical_json(self)

    def config_hash(self) -> str:
        return config_hash(self)
