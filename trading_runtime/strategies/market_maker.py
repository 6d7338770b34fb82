"""A symmetric market maker in hftbacktest's tutorial convention.

Strategies for the ``hftbacktest`` adapter are ``@njit def strategy(hbt, recorder, <params>)``
functions that loop on ``hbt.elapse(...)`` and call ``recorder.record(hbt)``, as in hftbacktest's
own documentation. The runtime fills a parameter named ``end_ts`` (when the function declares
one) with the part's last local timestamp: hftbacktest 2.4.4 keeps returning 0 from ``elapse()``
after the data ends while orders are in flight, so the loop has to be bounded by the data.
"""

from __future__ import annotations

import numpy as np
from hftbacktest import BUY, GTX, LIMIT
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
    # Every order gets a fresh id: hftbacktest's exchange side still knows an id for a while
    # after the local side has cleared it, and reusing one ends elapse() with an error code.
    next_order_id = np.uint64(1)
    while True:
        code = hbt.elapse(interval_ns)
        if code != 0:
            # 1 is the end of the data; anything else is an hftbacktest error, which the
            # runtime reports instead of keeping a truncated result.
            return code
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

        # Keep one working order per side at the wanted level; cancel the others.
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
