"""Backtest configuration: pydantic models in the seed's JSON shape, loaded with clear errors.

Data paths and output paths are never part of a config: the runtime supplies them per partition,
so the same config (and the same config hash) applies to every part.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trading_runtime.strategy_modules import strategy_refusal

__all__ = [
    "EXAMPLE_CONFIGS",
    "FRAMEWORK_FIXES",
    "LATENCY_DIR",
    "MAX_ROI_LEVELS",
    "PART_PLACEHOLDER",
    "BacktestConfig",
    "ConfigError",
    "ConstantLatency",
    "EngineSection",
    "FeeModel",
    "FrameworkFix",
    "HashMapDepth",
    "InterpolatedLatency",
    "L3FifoQueue",
    "LogProbQueue",
    "MaxLoss",
    "NotionalLimits",
    "OrderRateLimits",
    "PositionLimits",
    "PowerProbQueue",
    "QuoteLimits",
    "RiskAdverseQueue",
    "RiskSection",
    "RoiVectorDepth",
    "StrategySection",
    "WarmupSection",
    "apply_overrides",
    "example_config_path",
    "framework_engine_problems",
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


class RiskAdverseQueue(_Strict):
    """hftbacktest's ``risk_adverse_queue_model()``: a fill only once the queue ahead is gone."""

    type: Literal["risk_adverse"]


class LogProbQueue(_Strict):
    """``log_prob_queue_model()`` / ``log_prob_queue_model2()`` (log2 is hftbacktest's default)."""

    type: Literal["log_prob", "log_prob2"]


class PowerProbQueue(_Strict):
    """``power_prob_queue_model(n)``, ``power_prob_queue_model2(n)`` or
    ``power_prob_queue_model3(n)``."""

    type: Literal["power_prob", "power_prob2", "power_prob3"]
    n: float = Field(gt=0)


class L3FifoQueue(_Strict):
    """``l3_fifo_queue_model()``: market-by-order (L3) data only; no partial-fill exchange."""

    type: Literal["l3_fifo"]


QueueModel = Annotated[
    RiskAdverseQueue | LogProbQueue | PowerProbQueue | L3FifoQueue, Field(discriminator="type")
]


class ConstantLatency(_Strict):
    """``constant_order_latency(entry, response)``; hftbacktest's default is 0 and 0."""

    type: Literal["constant"]
    entry_ns: int = Field(default=0, ge=0, le=_INT64_MAX)
    response_ns: int = Field(default=0, ge=0, le=_INT64_MAX)


# A latency file is data: a file name, looked up in ``LATENCY_DIR`` beside the parts, never a path.
LATENCY_DIR = "latency"
PART_PLACEHOLDER = "{part}"


class InterpolatedLatency(_Strict):
    """``intp_order_latency([file], latency_offset)``: order latency interpolated from a file
    of hftbacktest's order-latency rows. ``file`` is a name in the ``latency/`` directory beside
    the parts; ``{part}`` in it stands for the part's name (one file per part)."""

    type: Literal["intp_order_latency"]
    file: str
    latency_offset_ns: int = Field(default=0, ge=-_INT64_MAX, le=_INT64_MAX)

    @field_validator("file")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        rest = name.replace(PART_PLACEHOLDER, "part")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.npz", rest) or ".." in rest:
            raise ValueError(
                f"{name!r}: expected the name of an .npz file in {LATENCY_DIR}/ beside the parts"
                f" (letters, digits, '_', '-', '.'; no path), where the only placeholder is"
                f" {PART_PLACEHOLDER} (the part's name)"
            )
        return name

    def file_name(self, part_name: str) -> str:
        return self.file.replace(PART_PLACEHOLDER, part_name)


LatencyModel = Annotated[ConstantLatency | InterpolatedLatency, Field(discriminator="type")]


class FeeModel(_Strict):
    """``trading_value_fee_model`` (a rate of traded value), ``trading_qty_fee_model`` (per unit
    of quantity) or ``flat_per_trade_fee_model`` (per fill); negative = rebate. hftbacktest's
    default is trading_value with no fees."""

    type: Literal["trading_value", "trading_qty", "flat_per_trade"]
    maker: float
    taker: float


class RoiVectorDepth(_Strict):
    """``ROIVectorMarketDepthBacktest``: a vector over the price range roi_lb..roi_ub."""

    type: Literal["roi_vector"]
    roi_lb: float
    roi_ub: float


class HashMapDepth(_Strict):
    """``HashMapMarketDepthBacktest``: any price, slower."""

    type: Literal["hash_map"]


DepthModel = Annotated[RoiVectorDepth | HashMapDepth, Field(discriminator="type")]

# The engine section's spelling before 0.3.0: each old key and where its value goes now.
_REPLACED_ENGINE_KEYS = {
    "maker_fee_rate": "fee_model.maker",
    "taker_fee_rate": "fee_model.taker",
    "entry_latency_ns": "latency.entry_ns",
    "response_latency_ns": "latency.response_ns",
    "use_risk_adverse_queue_model": "queue_model.type",
    "partial_fill_venue": "exchange",
    "roi_lb": "depth.roi_lb",
    "roi_ub": "depth.roi_ub",
}


def _replacement(data: dict[str, Any], key: str) -> str:
    """The new spelling of an old engine key, with the values the config gave."""
    get = data.get
    if key == "fee_model":
        maker, taker = get("maker_fee_rate", 0.0), get("taker_fee_rate", 0.0)
        value: Any = {"type": "trading_value", "maker": maker, "taker": taker}
    elif key == "latency":
        entry, response = get("entry_latency_ns", 0), get("response_latency_ns", 0)
        value = {"type": "constant", "entry_ns": entry, "response_ns": response}
    elif key == "queue_model":
        if get("use_risk_adverse_queue_model") is True:
            value = {"type": "risk_adverse"}
        else:  # what hftbacktest used, silently, when the flag was false
            value = {"type": "log_prob2"}
    elif key == "exchange":
        value = "partial_fill" if get("partial_fill_venue") is True else "no_partial_fill"
    else:
        value = {"type": "roi_vector", "roi_lb": get("roi_lb"), "roi_ub": get("roi_ub")}
    return f'"{key}": {json.dumps(value)}'


class EngineSection(_Strict):
    """hftbacktest's asset builder (``BacktestAsset``), one field per choice. Fields with a
    default take hftbacktest 2.4.4's own default; those without one (instrument grid, depth)
    must be set. The trading-platform adapter accepts the subset its framework can express."""

    instrument: str | None = Field(default=None, min_length=1)
    tick_size: float = Field(gt=0)
    lot_size: float = Field(gt=0)
    contract_size: float = Field(default=1.0, gt=0, description="linear asset")
    depth: DepthModel
    queue_model: QueueModel = Field(default_factory=lambda: LogProbQueue(type="log_prob2"))
    latency: LatencyModel = Field(default_factory=lambda: ConstantLatency(type="constant"))
    fee_model: FeeModel = Field(
        default_factory=lambda: FeeModel(type="trading_value", maker=0.0, taker=0.0)
    )
    exchange: Literal["no_partial_fill", "partial_fill"] = "no_partial_fill"
    feed_latency_offset_ns: int = Field(default=0, ge=-_INT64_MAX, le=_INT64_MAX)
    last_trades_capacity: int = Field(default=0, ge=0, le=_INT64_MAX)
    max_steps: int = Field(
        default=1_000_000,
        gt=0,
        le=_INT64_MAX,
        description="capacity of the recorder (records per part)",
    )
    max_price_tick_levels: int | None = Field(
        default=None, ge=0, le=_INT64_MAX, description="trading-platform only"
    )
    initial_snapshot: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_paths_and_old_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        found = sorted(_RUNTIME_SUPPLIED & set(data))
        if found:
            raise ValueError(
                f"{', '.join(found)} must not be in the config: the runtime supplies data and"
                " output paths per partition"
            )
        old = sorted(set(_REPLACED_ENGINE_KEYS) & set(data))
        if old:
            moved = ", ".join(f"{key} -> {_REPLACED_ENGINE_KEYS[key]}" for key in old)
            sections = sorted({_REPLACED_ENGINE_KEYS[key].split(".")[0] for key in old})
            spelled = ", ".join(_replacement(data, key) for key in sections)
            raise ValueError(
                f"old engine keys (before trading-runtime 0.3.0): {moved}; write {spelled}"
            )
        return data

    @model_validator(mode="after")
    def _check_models(self) -> EngineSection:
        if isinstance(self.queue_model, L3FifoQueue) and self.exchange == "partial_fill":
            raise ValueError(
                "queue_model l3_fifo cannot run with exchange partial_fill (hftbacktest 2.4.4:"
                " L3PartialFillExchange is unsupported)"
            )
        depth = self.depth
        if isinstance(depth, RoiVectorDepth):
            if depth.roi_lb >= depth.roi_ub:
                raise ValueError(
                    f"depth.roi_lb ({depth.roi_lb}) must be below depth.roi_ub ({depth.roi_ub})"
                )
            levels = (depth.roi_ub - depth.roi_lb) / self.tick_size
            if levels > MAX_ROI_LEVELS:
                raise ValueError(
                    f"depth.roi_lb..roi_ub ({depth.roi_lb:g}..{depth.roi_ub:g}) spans"
                    f" {levels:.3g} price levels of tick_size {self.tick_size:g}; hftbacktest"
                    f" allocates memory for every level, at most {MAX_ROI_LEVELS:,} are allowed:"
                    " narrow the range to the prices the data holds"
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

    @property
    def roi(self) -> tuple[float, float] | None:
        """The ROI depth's price range; None for the hash-map depth."""
        if isinstance(self.depth, RoiVectorDepth):
            return self.depth.roi_lb, self.depth.roi_ub
        return None

    def latency_file(self, part_name: str) -> str | None:
        """The name of the latency file a part uses (in ``latency/`` beside it), if any."""
        if isinstance(self.latency, InterpolatedLatency):
            return self.latency.file_name(part_name)
        return None


# The strategy section's own keys; any other key is a strategy parameter.
_STRATEGY_KEYS = frozenset({"class_path", "params", "recorder_argument"})


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
        flat = {k: v for k, v in data.items() if k not in _STRATEGY_KEYS}
        both = sorted(set(flat) & set(explicit))
        if both:
            raise ValueError(f"{', '.join(both)} given both flat and under params; keep one")
        collected: dict[str, Any] = {"params": {**explicit, **flat}}
        for key in _STRATEGY_KEYS - {"params"}:
            if key in data:
                collected[key] = data[key]
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
    ``trading_runtime.data.order``."""

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


def framework_engine_problems(engine: EngineSection) -> list[str]:
    """What trading-platform's ``HftEngineConfig`` (pinned commit) cannot express: it builds an
    ROI-vector asset with constant latency, trading-value fees, and the risk-averse queue model
    or hftbacktest's default (log_prob2)."""
    problems = []
    if engine.instrument is None:
        problems.append("instrument: missing field (the framework needs it)")
    if engine.max_price_tick_levels is None:
        problems.append("max_price_tick_levels: missing field (the framework needs it)")
    if not isinstance(engine.depth, RoiVectorDepth):
        problems.append(f"depth {engine.depth.type} (only roi_vector)")
    queue = engine.queue_model
    if not isinstance(queue, RiskAdverseQueue) and queue.type != "log_prob2":
        problems.append(f"queue_model {queue.type} (only risk_adverse or log_prob2)")
    if not isinstance(engine.latency, ConstantLatency):
        problems.append(f"latency {engine.latency.type} (only constant)")
    if engine.fee_model.type != "trading_value":
        problems.append(f"fee_model {engine.fee_model.type} (only trading_value)")
    if engine.feed_latency_offset_ns != 0:
        problems.append("feed_latency_offset_ns (only 0)")
    return problems


_CANNOT_EXPRESS = "adapter trading-platform cannot express"


class BacktestConfig(_Strict):
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
                raise ValueError(f"{_CANNOT_EXPRESS}: {'; '.join(problems)}")
        else:
            problems = []
            if engine.max_price_tick_levels is not None:
                problems.append(
                    "max_price_tick_levels is used only by the trading-platform adapter; remove it"
                )
            if engine.framework_fixes:
                problems.append(
                    "framework_fixes patch the trading-platform framework; adapter"
                    f" {info.data.get('adapter')!r} does not run it: remove them or set adapter"
                    ' "trading-platform"'
                )
            if problems:
                raise ValueError("; ".join(problems))
        return engine

    @field_validator("strategy")
    @classmethod
    def _finite_params(cls, value: StrategySection, info: ValidationInfo) -> StrategySection:
        _require_finite(dict(value.params), "params")
        if info.data.get("adapter") == "trading-platform" and value.recorder_argument:
            raise ValueError(f"{_CANNOT_EXPRESS}: recorder_argument (hftbacktest adapter only)")
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
        content = self.model_dump(mode="json", exclude={"description"})
        if content.get("warmup") is None:  # configs without warm-up keep their hash
            content.pop("warmup", None)
        return json.dumps(content, sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


# Fields holding a choice by ``type``: pydantic puts the chosen type into an error's location
# (engine.latency.constant.entry_ns); a config's field path has no such step.
_TAGGED_FIELDS = ("queue_model", "latency", "depth")


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [
        str(part)
        for i, part in enumerate(loc)
        if not (i > 0 and loc[i - 1] in _TAGGED_FIELDS and loc[:1] == ("engine",))
    ]
    return ".".join(parts) or "<root>"


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = _field_path(error["loc"])
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
        if path[0] == "strategy" and len(path) == 2 and path[1] not in _STRATEGY_KEYS:
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
