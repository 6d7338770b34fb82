"""Golden canonical JSON and config hashes: a stored result is keyed by its config's hash, so
the canonical form of a config must never change by accident (a refactoring, a new field with a
default, another pydantic). Each literal below was computed before the config package was split
up; a change here means every stored result of that config becomes stale: make it on purpose.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from trading_runtime.config import BacktestConfig, apply_overrides, example_config_path, load_config

# (canonical JSON, config hash) of each packaged example config.
EXAMPLES = {
    "hftbacktest_market_maker.json": (
        '{"adapter":"hftbacktest","engine":{"contract_size":1.0,"depth":{"roi_lb":40000.0,"roi_ub":80000.0,"type":"roi_vector"},"exchange":"no_partial_fill","fee_model":{"maker":0.0,"taker":0.0005,"type":"trading_value"},"feed_latency_offset_ns":0,"initial_snapshot":null,"instrument":"BTC_USDC-PERPETUAL","last_trades_capacity":10,"latency":{"entry_ns":10000000,"response_ns":10000000,"type":"constant"},"lot_size":0.01,"max_price_tick_levels":null,"max_steps":1000000,"queue_model":{"type":"risk_adverse"},"tick_size":0.5},"id":"market_maker_hftbacktest_v1","risk":{"extra":{},"max_loss":null,"notional_limits":{"currency":"USDC","max_gross_notional":200000.0,"max_single_order_notional":10000.0},"order_rate_limits":null,"position_limits":{"currency":"USDC","max_position":1.0},"quote_limits":null,"scope":"market_maker_hftbacktest_v1","trading_enabled":true},"strategy":{"class_path":"trading_runtime.strategies.market_maker:market_maker","params":{"interval_ns":100000000,"max_position":1.0,"order_qty":0.1,"quote_offset_ticks":0,"skew_ticks_per_lot":1.0},"recorder_argument":null}}',
        "d00b37e12c21e07ce10ba53e0e6ffe9d09f8f73b50b4d67403f93e0d0c9d0b3c",
    ),
    "hftbacktest_warmup_market_maker.json": (
        '{"adapter":"hftbacktest","engine":{"contract_size":1.0,"depth":{"roi_lb":40000.0,"roi_ub":80000.0,"type":"roi_vector"},"exchange":"no_partial_fill","fee_model":{"maker":0.0,"taker":0.0005,"type":"trading_value"},"feed_latency_offset_ns":0,"initial_snapshot":null,"instrument":"BTC_USDC-PERPETUAL","last_trades_capacity":10,"latency":{"entry_ns":10000000,"response_ns":10000000,"type":"constant"},"lot_size":0.01,"max_price_tick_levels":null,"max_steps":1000000,"queue_model":{"type":"risk_adverse"},"tick_size":0.5},"id":"calibrated_market_maker_warmup_v1","risk":{"extra":{},"max_loss":null,"notional_limits":{"currency":"USDC","max_gross_notional":200000.0,"max_single_order_notional":10000.0},"order_rate_limits":null,"position_limits":{"currency":"USDC","max_position":1.0},"quote_limits":null,"scope":"calibrated_market_maker_warmup_v1","trading_enabled":true},"strategy":{"class_path":"trading_runtime.strategies.calibrated_market_maker:calibrated_market_maker","params":{"interval_ns":100000000,"max_position":1.0,"min_half_spread_ticks":0.5,"min_history_steps":800,"order_qty":0.1,"skew_ticks_per_lot":1.0,"volatility_to_half_spread":1.0,"window_steps":800},"recorder_argument":null},"warmup":{"duration_ns":80000000000,"max_gap_ns":null,"parts":null}}',
        "8c4c7c199dbee649026a56d6269b36874c70332e7679a90524a4182a291c55d3",
    ),
    "trading_platform_market_maker.json": (
        '{"adapter":"trading-platform","engine":{"contract_size":1.0,"depth":{"roi_lb":40000.0,"roi_ub":80000.0,"type":"roi_vector"},"exchange":"partial_fill","fee_model":{"maker":0.0,"taker":0.0005,"type":"trading_value"},"feed_latency_offset_ns":0,"framework_fixes":["clear_inactive_orders","hftbacktest_error_codes","hftbacktest_status_codes","hftbacktest_time_in_force","unacknowledged_orders"],"initial_snapshot":null,"instrument":"BTC_USDC-PERPETUAL","last_trades_capacity":10,"latency":{"entry_ns":10000000,"response_ns":10000000,"type":"constant"},"lot_size":0.01,"max_price_tick_levels":20,"max_steps":1000000,"queue_model":{"type":"risk_adverse"},"tick_size":0.5},"id":"market_maker_trading_platform_v1","risk":{"extra":{"venue_policy":{"min_order_notional":5.0,"post_only_mode":"reject"}},"max_loss":{"currency":"USDC","max_drawdown":-2000.0,"rolling_loss":-200.0,"rolling_loss_window":60.0},"notional_limits":{"currency":"USDC","max_gross_notional":200000.0,"max_single_order_notional":10000.0},"order_rate_limits":{"max_cancels_per_second":20.0,"max_orders_per_second":20.0},"position_limits":{"currency":"USDC","max_position":1.0},"quote_limits":{"currency":"USDC","max_active_quotes":20,"max_gross_quote_notional":20000.0,"max_net_quote_notional":10000.0},"scope":"market_maker_trading_platform_v1","trading_enabled":true},"strategy":{"class_path":"trading_runtime.strategies.platform_market_maker:PlatformMarketMaker","params":{"half_spread_ticks":1,"order_qty":0.1,"post_only":true},"recorder_argument":null}}',
        "6c943b9145647b62ae7a28fc0d89f4099d6425ff515662147238d04b89cd46e8",
    ),
}

# Every section away from its default: other depth, queue, latency and fee models, warm-up,
# strategy parameters of several types, a recorder argument, free-form risk extras.
NON_DEFAULT_OVERRIDES: dict[str, Any] = {
    "description": "changed prose",
    "engine.depth": {"type": "hash_map"},
    "engine.queue_model": {"type": "power_prob3", "n": 2.5},
    "engine.latency": {
        "type": "intp_order_latency",
        "file": "{part}_latency.npz",
        "latency_offset_ns": -5,
    },
    "engine.fee_model": {"type": "flat_per_trade", "maker": -0.1, "taker": 0.2},
    "engine.exchange": "partial_fill",
    "engine.feed_latency_offset_ns": 7,
    "warmup": {"parts": 2, "max_gap_ns": 1000},
    "strategy.order_qty": 0.2,
    "strategy.params.extra_param": [1, 2.5, "x"],
    "strategy.recorder_argument": "rec",
    "risk.extra": {"note": {"a": 1}},
}
NON_DEFAULT_CANONICAL = '{"adapter":"hftbacktest","engine":{"contract_size":1.0,"depth":{"type":"hash_map"},"exchange":"partial_fill","fee_model":{"maker":-0.1,"taker":0.2,"type":"flat_per_trade"},"feed_latency_offset_ns":7,"initial_snapshot":null,"instrument":"BTC_USDC-PERPETUAL","last_trades_capacity":10,"latency":{"file":"{part}_latency.npz","latency_offset_ns":-5,"type":"intp_order_latency"},"lot_size":0.01,"max_price_tick_levels":null,"max_steps":1000000,"queue_model":{"n":2.5,"type":"power_prob3"},"tick_size":0.5},"id":"market_maker_hftbacktest_v1","risk":{"extra":{"note":{"a":1}},"max_loss":null,"notional_limits":{"currency":"USDC","max_gross_notional":200000.0,"max_single_order_notional":10000.0},"order_rate_limits":null,"position_limits":{"currency":"USDC","max_position":1.0},"quote_limits":null,"scope":"market_maker_hftbacktest_v1","trading_enabled":true},"strategy":{"class_path":"trading_runtime.strategies.market_maker:market_maker","params":{"extra_param":[1,2.5,"x"],"interval_ns":100000000,"max_position":1.0,"order_qty":0.2,"quote_offset_ticks":0,"skew_ticks_per_lot":1.0},"recorder_argument":"rec"},"warmup":{"duration_ns":null,"max_gap_ns":1000,"parts":2}}'
NON_DEFAULT_HASH = "d670dd4ac4372b8404a0defe6cf7fe6341cc1ae7c0714a92e83616498938fef4"

# A subset of the framework fixes, listed out of order (one spelling per set of fixes).
PLATFORM_OVERRIDES: dict[str, Any] = {
    "engine.framework_fixes": ["unacknowledged_orders", "clear_inactive_orders"],
    "risk.trading_enabled": False,
}
PLATFORM_CANONICAL = '{"adapter":"trading-platform","engine":{"contract_size":1.0,"depth":{"roi_lb":40000.0,"roi_ub":80000.0,"type":"roi_vector"},"exchange":"partial_fill","fee_model":{"maker":0.0,"taker":0.0005,"type":"trading_value"},"feed_latency_offset_ns":0,"framework_fixes":["clear_inactive_orders","unacknowledged_orders"],"initial_snapshot":null,"instrument":"BTC_USDC-PERPETUAL","last_trades_capacity":10,"latency":{"entry_ns":10000000,"response_ns":10000000,"type":"constant"},"lot_size":0.01,"max_price_tick_levels":20,"max_steps":1000000,"queue_model":{"type":"risk_adverse"},"tick_size":0.5},"id":"market_maker_trading_platform_v1","risk":{"extra":{"venue_policy":{"min_order_notional":5.0,"post_only_mode":"reject"}},"max_loss":{"currency":"USDC","max_drawdown":-2000.0,"rolling_loss":-200.0,"rolling_loss_window":60.0},"notional_limits":{"currency":"USDC","max_gross_notional":200000.0,"max_single_order_notional":10000.0},"order_rate_limits":{"max_cancels_per_second":20.0,"max_orders_per_second":20.0},"position_limits":{"currency":"USDC","max_position":1.0},"quote_limits":{"currency":"USDC","max_active_quotes":20,"max_gross_quote_notional":20000.0,"max_net_quote_notional":10000.0},"scope":"market_maker_trading_platform_v1","trading_enabled":false},"strategy":{"class_path":"trading_runtime.strategies.platform_market_maker:PlatformMarketMaker","params":{"half_spread_ticks":1,"order_qty":0.1,"post_only":true},"recorder_argument":null}}'
PLATFORM_HASH = "a91ea205720c5ef90af68618c3118c9745b38fa944db50d5cf354abc4571210a"


def _check(config: BacktestConfig, canonical: str, config_hash: str) -> None:
    assert config.canonical_json() == canonical
    assert config.config_hash() == config_hash
    assert hashlib.sha256(canonical.encode()).hexdigest() == config_hash


def test_every_packaged_example_is_pinned() -> None:
    examples = sorted(p.name for p in Path(str(example_config_path())).parent.glob("*.json"))
    assert examples == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_config_hash_is_golden(name: str) -> None:
    canonical, config_hash = EXAMPLES[name]
    config = load_config(Path(str(example_config_path())).with_name(name))
    _check(config, canonical, config_hash)


def test_non_default_sections_hash_is_golden() -> None:
    config = apply_overrides(load_config(example_config_path("hftbacktest")), NON_DEFAULT_OVERRIDES)
    assert config.description == "changed prose"  # not hashed
    _check(config, NON_DEFAULT_CANONICAL, NON_DEFAULT_HASH)


def test_platform_fixes_hash_is_golden() -> None:
    base = load_config(example_config_path("trading-platform"))
    config = apply_overrides(base, PLATFORM_OVERRIDES)
    _check(config, PLATFORM_CANONICAL, PLATFORM_HASH)
