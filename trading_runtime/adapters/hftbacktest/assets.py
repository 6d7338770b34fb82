"""hftbacktest's asset and backtest object from the engine section: one builder call per field,
nothing falling back silently."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest, ROIVectorMarketDepthBacktest

from trading_runtime.adapters.base import EngineError
from trading_runtime.config import ConstantLatency, EngineSection, HashMapDepth, RoiVectorDepth

__all__ = ["build_asset", "build_backtest"]


def build_asset(
    engine: EngineSection, data_paths: Sequence[str], latency_paths: Sequence[Path] = ()
) -> BacktestAsset:
    """An hftbacktest asset from the engine section: one builder call per field, reading
    ``data_paths`` in order (warm-up parts, then the scored part) and, for interpolated latency,
    ``latency_paths`` in the same order (one file each, a shared file once)."""
    if isinstance(data_paths, str):  # a str is a sequence too: of one-letter "paths"
        raise TypeError("build_asset takes a list of data paths, not one path")
    asset = BacktestAsset().data(list(data_paths))
    if engine.initial_snapshot is not None:
        asset = asset.initial_snapshot(engine.initial_snapshot)
    asset = asset.linear_asset(engine.contract_size).tick_size(engine.tick_size)
    asset = asset.lot_size(engine.lot_size).last_trades_capacity(engine.last_trades_capacity)
    asset = asset.latency_offset(engine.feed_latency_offset_ns)
    latency = engine.latency
    if isinstance(latency, ConstantLatency):
        asset = asset.constant_order_latency(latency.entry_ns, latency.response_ns)
    else:
        if not latency_paths:
            raise EngineError(f"engine.latency {latency.type} needs its latency file")
        files = [str(path) for path in dict.fromkeys(latency_paths)]
        asset = asset.intp_order_latency(files, latency.latency_offset_ns)
    queue = engine.queue_model
    n = getattr(queue, "n", None)
    builders = {
        "risk_adverse": lambda: asset.risk_adverse_queue_model(),
        "log_prob": lambda: asset.log_prob_queue_model(),
        "log_prob2": lambda: asset.log_prob_queue_model2(),
        "power_prob": lambda: asset.power_prob_queue_model(n),
        "power_prob2": lambda: asset.power_prob_queue_model2(n),
        "power_prob3": lambda: asset.power_prob_queue_model3(n),
        "l3_fifo": lambda: asset.l3_fifo_queue_model(),
    }
    asset = builders[queue.type]()
    fee = engine.fee_model
    fee_builders = {
        "trading_value": asset.trading_value_fee_model,
        "trading_qty": asset.trading_qty_fee_model,
        "flat_per_trade": asset.flat_per_trade_fee_model,
    }
    asset = fee_builders[fee.type](fee.maker, fee.taker)
    if engine.exchange == "partial_fill":
        asset = asset.partial_fill_exchange()
    else:
        asset = asset.no_partial_fill_exchange()
    if isinstance(engine.depth, RoiVectorDepth):
        roi = engine.roi
        if roi is None:  # the runtime resolves it per part first (``data.roi.config_with_roi``)
            raise ValueError('engine.depth roi "auto" is not resolved for this part')
        asset = asset.roi_lb(roi[0]).roi_ub(roi[1])
    return asset


def build_backtest(engine: EngineSection, asset: BacktestAsset) -> Any:
    """The backtest object of ``engine.depth``'s kind over one asset."""
    if isinstance(engine.depth, HashMapDepth):
        return HashMapMarketDepthBacktest([asset])
    return ROIVectorMarketDepthBacktest([asset])
