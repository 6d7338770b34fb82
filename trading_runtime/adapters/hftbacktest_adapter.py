"""The embedded default engine: hftbacktest running a numba strategy directly."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hftbacktest
import numba
import numpy as np
from hftbacktest import BacktestAsset, Recorder, ROIVectorMarketDepthBacktest
from numba.core.dispatcher import Dispatcher

from trading_runtime.adapters.base import (
    EngineError,
    EngineOutput,
    StrategyLoadError,
    import_class_path,
)
from trading_runtime.config import BacktestConfig, EngineSection
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.validate import PartInfo
from trading_runtime.layout import STATS_FILE

__all__ = [
    "END_TS_PARAMETER",
    "HFTBACKTEST_ERRORS",
    "SCORED_START_TS_PARAMETER",
    "HftbacktestAdapter",
    "build_asset",
    "check_strategy_return",
    "strategy_arguments",
]

# Filled by the runtime when the strategy declares a parameter of this name.
END_TS_PARAMETER = "end_ts"
# Filled with the scored part's first local timestamp (where a warm-up ends and scoring starts).
SCORED_START_TS_PARAMETER = "scored_start_ts"


def build_asset(engine: EngineSection, data_paths: Sequence[str]) -> BacktestAsset:
    """An hftbacktest asset from the engine section (the same mapping trading-platform uses),
    reading ``data_paths`` in order (warm-up parts, then the scored part)."""
    asset = BacktestAsset().data(list(data_paths))
    if engine.initial_snapshot is not None:
        asset = asset.initial_snapshot(engine.initial_snapshot)
    asset = (
        asset.linear_asset(engine.contract_size)
        .constant_latency(engine.entry_latency_ns, engine.response_latency_ns)
        .tick_size(engine.tick_size)
        .lot_size(engine.lot_size)
        .trading_value_fee_model(engine.maker_fee_rate, engine.taker_fee_rate)
        .last_trades_capacity(engine.last_trades_capacity)
        .roi_lb(engine.roi_lb)
        .roi_ub(engine.roi_ub)
    )
    if engine.use_risk_adverse_queue_model:
        asset = asset.risk_adverse_queue_model()
    if engine.partial_fill_venue:
        asset = asset.partial_fill_exchange()
    else:
        asset = asset.no_partial_fill_exchange()
    return asset


# hftbacktest's elapse()/wait_*() codes beyond 0 (continue) and 1 (end of data).
HFTBACKTEST_ERRORS = {
    10: "OrderIdExist",
    11: "OrderRequestInProcess",
    12: "OrderNotFound",
    13: "InvalidOrderRequest",
    14: "InvalidOrderStatus",
}


def check_strategy_return(part_name: str, returned: Any) -> None:
    """A strategy may return the code that ended its loop (hftbacktest's tutorials return True).
    An error code means the backtest stopped before the end of the data: fail, don't report a
    truncated result as if it were complete."""
    if isinstance(returned, bool) or not isinstance(returned, int | np.integer):
        return
    code = int(returned)
    if code in (0, 1):
        return
    name = HFTBACKTEST_ERRORS.get(code, "unknown error")
    raise EngineError(
        f"part {part_name}: hftbacktest stopped the backtest with error code {code} ({name})"
        " before the end of the data"
    )


def strategy_arguments(
    strategy: Any,
    class_path: str,
    params: dict[str, Any],
    end_ts: int,
    scored_start_ts: int = 0,
) -> tuple[Any, ...]:
    """Positional arguments after ``(hbt, recorder)``, from the strategy's signature.

    Every parameter is passed explicitly (defaults included) so numba sees one stable signature.
    """
    python_function = getattr(strategy, "py_func", strategy)
    try:
        signature = inspect.signature(python_function)
    except (TypeError, ValueError) as exc:
        raise StrategyLoadError(f"strategy.class_path {class_path!r} is not a function") from exc
    parameters = list(signature.parameters.values())
    if len(parameters) < 2:
        raise StrategyLoadError(
            f"strategy.class_path {class_path!r}: expected a function (hbt, recorder, ...)"
            f" in hftbacktest's convention, got signature {signature}"
        )
    accepted = [p.name for p in parameters[2:]]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise StrategyLoadError(
            f"strategy {class_path!r} has no parameter(s) {', '.join(unknown)}"
            f" (it accepts: {', '.join(accepted) or 'none'})"
        )
    values = dict(params)
    if END_TS_PARAMETER in accepted:
        values.setdefault(END_TS_PARAMETER, end_ts)
    if SCORED_START_TS_PARAMETER in accepted:
        values.setdefault(SCORED_START_TS_PARAMETER, scored_start_ts)
    try:
        bound = signature.bind(None, None, **values)
    except TypeError as exc:  # e.g. "missing a required argument: 'spread'"
        raise StrategyLoadError(
            f"strategy {class_path!r}: {exc}; set it under strategy in the config"
        ) from None
    bound.apply_defaults()
    return tuple(bound.arguments[name] for name in accepted)


class HftbacktestAdapter:
    name = "hftbacktest"

    def version(self) -> str:
        return str(hftbacktest.__version__)

    def framework_sha(self) -> str | None:
        return None

    def load_strategy(self, config: BacktestConfig) -> Any:
        strategy = import_class_path(config.strategy.class_path)
        if not callable(strategy):
            raise StrategyLoadError(
                f"strategy.class_path {config.strategy.class_path!r} is not callable"
            )
        return strategy

    def prepare(self, config: BacktestConfig, part: PartInfo) -> None:
        """Compile before the backtest's clock starts: hftbacktest's own numba classes (built and
        closed once) and a numba strategy for their argument types, without running it."""
        strategy = self.load_strategy(config)
        arguments = strategy_arguments(
            strategy,
            config.strategy.class_path,
            dict(config.strategy.params),
            part.last_local_ts,
            part.first_local_ts,
        )
        hbt = ROIVectorMarketDepthBacktest([build_asset(config.engine, [part.path])])
        try:
            if not isinstance(strategy, Dispatcher):
                return  # plain Python: nothing more to compile
            recorder = Recorder(1, 1)
            signature = tuple(numba.typeof(a) for a in (hbt, recorder.recorder, *arguments))
            try:
                strategy.compile(signature)
            except numba.core.errors.NumbaError as exc:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise StrategyLoadError(
                    f"strategy {config.strategy.class_path!r} does not compile with numba:"
                    f" {first_line}"
                ) from None
        finally:
            hbt.close()

    def run_inline(
        self,
        config: BacktestConfig,
        part: PartInfo,
        out_dir: Path,
        warmup: Sequence[PartInfo] = (),
    ) -> EngineOutput:
        strategy = self.load_strategy(config)
        arguments = strategy_arguments(
            strategy,
            config.strategy.class_path,
            dict(config.strategy.params),
            part.last_local_ts,
            part.first_local_ts,
        )
        data_paths = [*(p.path for p in warmup), part.path]
        hbt = ROIVectorMarketDepthBacktest([build_asset(config.engine, data_paths)])
        recorder = Recorder(1, config.engine.max_steps)
        try:
            returned = strategy(hbt, recorder.recorder, *arguments)
        except IndexError as exc:
            if recorder.recorder.i < config.engine.max_steps:
                raise  # the strategy's own IndexError, reported as it is
            raise EngineError(
                f"part {part.name}: the strategy filled the recorder (engine.max_steps ="
                f" {config.engine.max_steps} holds {config.engine.max_steps - 1} rows); raise"
                " max_steps or record less often"
            ) from exc
        finally:
            hbt.close()
        check_strategy_return(part.name, returned)
        stats_path = out_dir / STATS_FILE
        # hftbacktest's record format (one array per asset number), with stable zip bytes.
        write_npz_deterministic(stats_path, {"0": recorder.get(0)})
        return EngineOutput(
            stats_path=stats_path,
            event_log_path=None,
            engine=self.name,
            engine_version=self.version(),
            framework_sha=None,
        )
