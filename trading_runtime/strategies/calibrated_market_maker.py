"""A market maker that calibrates before it quotes: the case for warm-up parts.

Written in hftbacktest's tutorial style (``@njit def strategy(hbt, recorder, ...)`` looping on
``hbt.elapse``), in the spirit of its GLFT and grid examples but much simpler: every step it
samples the mid and the number of market trades, keeps the last ``window_steps`` samples, and only
once it has seen ``min_history_steps`` of them does it quote, with a half spread that widens with
the measured volatility and a skew against its inventory.

On a part shorter than its history requirement it never quotes (0 trades); with a config's
``warmup`` feeding earlier parts first, it arrives at the scored part calibrated and trades from
its first step (``config/examples/hftbacktest_warmup_market_maker.json``).
"""

from __future__ import annotations

import numpy as np
from hftbacktest import BUY, GTX, LIMIT
from numba import njit


@njit
def calibrated_market_maker(
    hbt,
    recorder,
    end_ts,
    interval_ns=100_000_000,
    window_steps=600,
    min_history_steps=600,
    order_qty=0.1,
    max_position=1.0,
    volatility_to_half_spread=1.0,
    min_half_spread_ticks=0.5,
    skew_ticks_per_lot=1.0,
):
    asset_no = 0
    # Ring buffers over the calibration window: mid changes (ticks) and market trades per step.
    mid_changes = np.zeros(window_steps, np.float64)
    arrivals = np.zeros(window_steps, np.float64)
    samples = 0
    last_mid = np.nan
    next_order_id = np.uint64(1)
    while True:
        code = hbt.elapse(interval_ns)
        if code != 0:
            return code  # 1 at the end of the data; anything else is an hftbacktest error
        if hbt.current_timestamp > end_ts:
            break
        hbt.clear_inactive_orders(asset_no)
        depth = hbt.depth(asset_no)
        trades = len(hbt.last_trades(asset_no))
        hbt.clear_last_trades(asset_no)
        if not (np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask)):
            recorder.record(hbt)
            continue
        mid = (depth.best_bid_tick + depth.best_ask_tick) / 2.0
        if np.isfinite(last_mid):
            slot = samples % window_steps
            mid_changes[slot] = mid - last_mid
            arrivals[slot] = trades
            samples += 1
        last_mid = mid
        if samples < min_history_steps:
            recorder.record(hbt)  # still calibrating: no quotes
            continue

        # Calibrated: volatility (ticks per step) and trade arrivals over the window.
        n = min(samples, window_steps)
        volatility = np.sqrt(np.mean(mid_changes[:n] ** 2))
        intensity = np.mean(arrivals[:n])
        half_spread = max(min_half_spread_ticks, volatility_to_half_spread * volatility)
        if intensity <= 0.0:
            half_spread *= 2.0  # nobody trades: stay out of the way
        position = hbt.position(asset_no)
        skew = skew_ticks_per_lot * position / order_qty
        # Post-only: never cross the book.
        bid_tick = min(int(np.floor(mid - half_spread - skew)), depth.best_bid_tick)
        ask_tick = max(int(np.ceil(mid + half_spread - skew)), depth.best_ask_tick)

        has_bid = False
        has_ask = False
        values = hbt.orders(asset_no).values()
        while values.has_next():
            order = values.get()
            wanted = bid_tick if order.side == BUY else ask_tick
            if order.price_tick == wanted:
                if order.side == BUY:
                    has_bid = True
                else:
                    has_ask = True
            elif order.cancellable:
                hbt.cancel(asset_no, order.order_id, False)
        tick = depth.tick_size
        if position < max_position and not has_bid:
            hbt.submit_buy_order(
                asset_no, next_order_id, bid_tick * tick, order_qty, GTX, LIMIT, False
            )
            next_order_id += np.uint64(1)
        if position > -max_position and not has_ask:
            hbt.submit_sell_order(
                asset_no, next_order_id, ask_tick * tick, order_qty, GTX, LIMIT, False
            )
            next_order_id += np.uint64(1)
        recorder.record(hbt)
    return 1
