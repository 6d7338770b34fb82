"""My strategy: quote both sides a few ticks off the touch, re-quoting every 100 ms."""

import numpy as np
from hftbacktest import GTX, LIMIT
from numba import njit


@njit
def strategy(hbt, recorder, end_ts, half_spread_ticks=2, order_qty=0.1, max_position=1.0):
    order_id = np.uint64(0)
    while True:
        code = hbt.elapse(100_000_000)  # 100 ms; 1 = end of data, >= 10 an hftbacktest error
        if code != 0 or hbt.current_timestamp > end_ts:
            return code
        hbt.clear_inactive_orders(0)
        orders = hbt.orders(0).values()
        while orders.has_next():  # cancel what rests, then quote again
            order = orders.get()
            if order.cancellable:
                hbt.cancel(0, order.order_id, False)
        depth = hbt.depth(0)
        if np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask):
            bid = (depth.best_bid_tick - half_spread_ticks) * depth.tick_size
            ask = (depth.best_ask_tick + half_spread_ticks) * depth.tick_size
            if hbt.position(0) < max_position:
                order_id += np.uint64(1)
                hbt.submit_buy_order(0, order_id, bid, order_qty, GTX, LIMIT, False)
            if hbt.position(0) > -max_position:
                order_id += np.uint64(1)
                hbt.submit_sell_order(0, order_id, ask, order_qty, GTX, LIMIT, False)
        recorder.record(hbt)
