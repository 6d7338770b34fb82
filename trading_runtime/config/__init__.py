"""Backtest configuration: pydantic models in the seed's JSON shape, loaded with clear errors.

Data paths and output paths are never part of a config: the runtime supplies them per partition,
so the same config (and the same config hash) applies to every part.

Modules: ``engine`` (the engine section's models), ``model`` (strategy, risk and warm-up
sections, ``BacktestConfig``), ``rules`` (shared validation rules), ``migrations`` (old keys
refused with their new spelling), ``framework_limits`` (what the trading-platform adapter can
express), ``canonical`` (canonical JSON and config hash), ``loading`` (files, errors, dotted
overrides), ``strategy_modules`` (where strategy code may come from) and ``examples`` (the
packaged example configs).
"""

from __future__ import annotations

from trading_runtime.config.engine import (
    FRAMEWORK_FIXES,
    LATENCY_DIR,
    PART_PLACEHOLDER,
    ConstantLatency,
    EngineSection,
    FeeModel,
    FrameworkFix,
    HashMapDepth,
    InterpolatedLatency,
    L3FifoQueue,
    LogProbQueue,
    PowerProbQueue,
    RiskAdverseQueue,
    RoiVectorDepth,
    latency_file_name,
)
from trading_runtime.config.examples import EXAMPLE_CONFIGS, example_config_path
from trading_runtime.config.framework_limits import framework_engine_problems
from trading_runtime.config.loading import apply_overrides, load_config, parse_config
from trading_runtime.config.model import (
    BacktestConfig,
    MaxLoss,
    NotionalLimits,
    OrderRateLimits,
    PositionLimits,
    QuoteLimits,
    RiskSection,
    StrategySection,
    WarmupSection,
)
from trading_runtime.config.rules import MAX_ROI_LEVELS, ConfigError
from trading_runtime.config.strategy_modules import (
    DEFAULT_STRATEGY_MODULES,
    STRATEGY_MODULES_ENV,
    allowed_strategy_modules,
    find_module_source,
    is_allowed_module,
    strategy_refusal,
)

__all__ = [
    "DEFAULT_STRATEGY_MODULES",
    "EXAMPLE_CONFIGS",
    "FRAMEWORK_FIXES",
    "LATENCY_DIR",
    "MAX_ROI_LEVELS",
    "PART_PLACEHOLDER",
    "STRATEGY_MODULES_ENV",
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
    "allowed_strategy_modules",
    "apply_overrides",
    "example_config_path",
    "find_module_source",
    "framework_engine_problems",
    "is_allowed_module",
    "latency_file_name",
    "load_config",
    "parse_config",
    "strategy_refusal",
]
