"""Engine adapters behind one port (``base.EngineAdapter``), chosen by ``config.adapter``."""

from __future__ import annotations

from trading_runtime.adapters.base import (
    EngineAdapter,
    EngineError,
    EngineNotInstalledError,
    EngineOutput,
    EngineStartupError,
    EngineTimeoutError,
    StrategyLoadError,
)
from trading_runtime.adapters.hftbacktest import HftbacktestAdapter
from trading_runtime.adapters.trading_platform import TradingPlatformAdapter

ADAPTERS: dict[str, type[EngineAdapter]] = {
    HftbacktestAdapter.name: HftbacktestAdapter,
    TradingPlatformAdapter.name: TradingPlatformAdapter,
}


def get_adapter(name: str) -> EngineAdapter:
    try:
        return ADAPTERS[name]()
    except KeyError:
        raise EngineError(
            f"unknown engine adapter {name!r}; expected one of {', '.join(sorted(ADAPTERS))}"
        ) from None


__all__ = [
    "ADAPTERS",
    "EngineAdapter",
    "EngineError",
    "EngineNotInstalledError",
    "EngineOutput",
    "EngineStartupError",
    "EngineTimeoutError",
    "StrategyLoadError",
    "get_adapter",
]
