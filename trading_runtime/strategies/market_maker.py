"""A symmetric market maker in hftbacktest's tutorial convention.

Strategies for the ``hftbacktest`` adapter are ``@njit def strategy(hbt, recorder, <params>)``
functions that loop on ``hbt.elapse(...)`` and call ``recorder.record(hbt)``, as in hftbacktest's
own documentation. The runtime fills a parameter named ``end_ts`` (when the function declares
one) with the part's last local timestamp: hftbacktest 2.4.4 keeps returning 0 from ``elapse()``
after the data ends while orders are in flight, so the loop has to be bounded by the data.
"""

from __future__ import annotations

import numpy as np
from hftbacktest import BUY, GTX, LIMIT, SELL
from numba import njit


@njit
def market_maker(
    hbt,
    recorder,
    end_ts,
    interval_ns=100_000_000,
    quote_offset_ticks=0,
    skew_ticks_per_lot=0.0,
    order_qty=0.1,
    max_position=1.0,
):
    asset_no = 0
    while hbt.elapse(interval_ns) == 0:
        if hbt.current_timestamp > end_ts:
            break
        hbt.clear_inactive_orders(asset_no)
        depth = hbt.depth(asset_no)
        if not (np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask)):
            recorder.record(hbt)
            continue
        tick = depth.tick_size
        position = hbt.position(asset_no)
        # Join the touch (offset 0) or quote further out; lean against inventory by the skew.
        skew = int(np.round(skew_ticks_per_lot * position / order_qty))
        bid_tick = depth.best_bid_tick - quote_offset_ticks - max(skew, 0)
        ask_tick = depth.best_ask_tick + quote_offset_ticks - min(skew, 0)

        orders = hbt.orders(asset_no)
        values = orders.values()
        while values.has_next():
            order = values.get()
            if not order.cancellable:
                continue
            if (order.side == BUY and order.price_tick != bid_tick) or (
                order.side == SELL and order.price_tick != ask_tick
            ):
                hbt.cancel(asset_no, order.order_id, False)

        # Order ids are the price tick, so one order per level and side (buys even, sells odd).
        bid_id = np.uint64(bid_tick * 2)
        ask_id = np.uint64(ask_tick * 2 + 1)
        if position < max_position and bid_id not in orders:
            hbt.submit_buy_order(asset_no, bid_id, bid_tick * tick, order_qty, GTX, LIMIT, False)
        if position > -max_position and ask_id not in orders:
            hbt.submit_sell_order(asset_no, ask_id, ask_tick * tick, order_qty, GTX, LIMIT, False)
        recorder.record(hbt)
    return True
