"""The embedded default engine: hftbacktest running a numba strategy directly.

A strategy is a function whose first parameter receives hftbacktest's backtest object; every
other parameter is bound by name (``binding.bind_strategy``): the recorder, the part's end,
engine values and the config's strategy parameters. What the function returns, when it is an
array or a number, is stored with the result (``returns``). ``assets`` builds hftbacktest's
asset from the engine section; ``adapter`` is the adapter itself; ``codes`` holds hftbacktest's
error codes.
"""

from __future__ import annotations

from trading_runtime.adapters.hftbacktest.adapter import HftbacktestAdapter
from trading_runtime.adapters.hftbacktest.assets import build_asset, build_backtest
from trading_runtime.adapters.hftbacktest.binding import (
    END_TS_PARAMETER,
    ENGINE_PARAMETERS,
    RECORDER_PARAMETERS,
    SCORED_START_TS_PARAMETER,
    StrategyBinding,
    bind_strategy,
)
from trading_runtime.adapters.hftbacktest.codes import HFTBACKTEST_ERRORS, hftbacktest_error_name
from trading_runtime.adapters.hftbacktest.returns import (
    STRATEGY_OUTPUT_FILE,
    STRATEGY_OUTPUTS_FILE,
    check_strategy_return,
    save_strategy_output,
)

__all__ = [
    "END_TS_PARAMETER",
    "ENGINE_PARAMETERS",
    "HFTBACKTEST_ERRORS",
    "RECORDER_PARAMETERS",
    "SCORED_START_TS_PARAMETER",
    "STRATEGY_OUTPUTS_FILE",
    "STRATEGY_OUTPUT_FILE",
    "HftbacktestAdapter",
    "StrategyBinding",
    "bind_strategy",
    "build_asset",
    "build_backtest",
    "check_strategy_return",
    "hftbacktest_error_name",
    "save_strategy_output",
]
