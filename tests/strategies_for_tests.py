"""Strategies that misbehave on purpose, imported by engine workers during tests."""

import numpy as np
from hftbacktest import GTX, LIMIT
from numba import njit


def stuck_forever(hbt, recorder):
    # Never yields back to the engine: only a killed worker ends this.
    while True:
        pass


@njit
def records_every_step(hbt, recorder, interval_ns=1_000_000):
    # Never checks end_ts, so a small recorder fills up.
    while hbt.elapse(interval_ns) == 0:
        recorder.record(hbt)
    return True


def raises_value_error(hbt, recorder):
    raise ValueError("strategy blew up on purpose")


@njit
def stuck_on_late_parts(hbt, recorder, end_ts, stuck_after_ts=0):
    # Records through parts that end before stuck_after_ts; never returns on later ones.
    if end_ts > stuck_after_ts:
        while True:
            hbt.elapse(0)  # never advances the clock: only a killed worker ends this
    while hbt.elapse(1_000_000_000) == 0 and hbt.current_timestamp <= end_ts:
        recorder.record(hbt)
    return True


@njit
def stops_on_error_code(hbt, recorder, interval_ns=1_000_000):
    # Reports an hftbacktest error code (InvalidOrderStatus) as the reason its loop ended.
    hbt.elapse(interval_ns)
    recorder.record(hbt)
    return 14


@njit
def ladder_inside_spread(hbt, recorder, end_ts, interval_ns=2_000_000, levels=4, order_qty=0.01):
    # Quotes a ladder of bids and asks *inside* the spread, one tick apart (on an instrument
    # whose tick is finer than the data's price grid): one aggressive trade then fills several
    # resting orders at different prices in a single event, the case where hftbacktest 2.4.4
    # applies fills in random order.
    next_order_id = np.uint64(1)
    while hbt.elapse(interval_ns) == 0:
        if hbt.current_timestamp > end_ts:
            break
        hbt.clear_inactive_orders(0)
        depth = hbt.depth(0)
        if not (np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask)):
            recorder.record(hbt)
            continue
        values = hbt.orders(0).values()
        while values.has_next():
            order = values.get()
            if order.cancellable:
                hbt.cancel(0, order.order_id, False)
        tick = depth.tick_size
        for level in range(1, levels + 1):
            bid_tick = depth.best_bid_tick + level
            ask_tick = depth.best_ask_tick - level
            if bid_tick < ask_tick:
                qty = order_qty * level
                hbt.submit_buy_order(0, next_order_id, bid_tick * tick, qty, GTX, LIMIT, False)
                hbt.submit_sell_order(
                    0, next_order_id + np.uint64(1), ask_tick * tick, qty, GTX, LIMIT, False
                )
                next_order_id += np.uint64(2)
        recorder.record(hbt)
    return True


@njit
def does_not_compile(hbt, recorder):
    # hbt has no such method: numba's typing fails when the strategy is compiled.
    return hbt.no_such_method()
