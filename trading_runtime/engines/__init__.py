"""Engine adapters behind one port; see ``trading_runtime.backtest.run_backtest``."""

from __future__ import annotations

from trading_runtime.engines.base import (
    EngineAdapter,
    EngineError,
    EngineNotInstalledError,
    EngineOutput,
    EngineTimeoutError,
    StrategyLoadError,
)
from trading_runtime.engines.hftbacktest_engine import HftbacktestAdapter
from trading_runtime.engines.trading_platform_engine import TradingPlatformAdapter

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
    "EngineTimeoutError",
    "StrategyLoadError",
    "get_adapter",
]
