"""Strategies for the tests, imported by engine workers: some misbehave on purpose, others are
written in the style of hftbacktest's tutorials (different signatures)."""

import numpy as np
from hftbacktest import GTC, GTX, LIMIT
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


# Strategies in the style of hftbacktest's tutorials (our own code): the function loops on
# hbt.elapse(...) without being told where the data ends. Each keeps at most one working order
# per side and places a new one only when that side has none, so once the data ends no new
# requests are pending and elapse() returns 1.


@njit
def _quote_missing_sides(hbt, order_id, half_spread_ticks, order_qty):
    hbt.clear_inactive_orders(0)
    depth = hbt.depth(0)
    if not (np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask)):
        return order_id
    has_bid = False
    has_ask = False
    values = hbt.orders(0).values()
    while values.has_next():
        order = values.get()
        if order.side == 1:
            has_bid = True
        else:
            has_ask = True
    tick = depth.tick_size
    if not has_bid:
        price = (depth.best_bid_tick - half_spread_ticks) * tick
        hbt.submit_buy_order(0, order_id, price, order_qty, GTX, LIMIT, False)
        order_id += np.uint64(1)
    if not has_ask:
        price = (depth.best_ask_tick + half_spread_ticks) * tick
        hbt.submit_sell_order(0, order_id, price, order_qty, GTX, LIMIT, False)
        order_id += np.uint64(1)
    return order_id


@njit
def tutorial_recorder_second(hbt, recorder):
    # (hbt, recorder): like the grid-trading and queue-based tutorials, settings inline.
    order_id = np.uint64(1)
    while hbt.elapse(50_000_000) == 0:
        order_id = _quote_missing_sides(hbt, order_id, 0, 0.1)
        recorder.record(hbt)
    return True


@njit
def tutorial_recorder_last(hbt, order_qty, recorder):
    # (hbt, order_qty, recorder): the recorder last, like "Impact of Order Latency"'s GLFT; the
    # diagnostics (time, mid, spread in ticks) come back as an array, as GLFT's do.
    out = np.full((100_000, 3), np.nan, np.float64)
    t = 0
    order_id = np.uint64(1)
    while hbt.elapse(50_000_000) == 0:
        depth = hbt.depth(0)
        if t < len(out) and np.isfinite(depth.best_bid) and np.isfinite(depth.best_ask):
            out[t, 0] = hbt.current_timestamp
            out[t, 1] = (depth.best_bid + depth.best_ask) / 2.0
            out[t, 2] = depth.best_ask_tick - depth.best_bid_tick
            t += 1
        order_id = _quote_missing_sides(hbt, order_id, 1, order_qty)
        recorder.record(hbt)
    return out[:t]


@njit
def tutorial_hbt_only(hbt):
    # (hbt) only, like Getting Started's first examples: buys once across the spread, then
    # lets the data run out. Records nothing itself.
    while hbt.elapse(10_000_000) == 0:
        depth = hbt.depth(0)
        if np.isfinite(depth.best_ask):
            hbt.submit_buy_order(0, np.uint64(1), depth.best_ask, 0.05, GTC, LIMIT, False)
            break
    while hbt.elapse(1_000_000_000) == 0:
        pass
    return True


@njit
def tutorial_stat_and_engine_values(hbt, stat, interval, roi_lb, roi_ub, tick_size):
    # (hbt, stat, ...) like the order-book-imbalance tutorial: the recorder is named `stat`, and
    # roi_lb, roi_ub and tick_size come from the engine section. Returns how many price levels
    # the ROI holds, a number stored with the result.
    while hbt.elapse(interval) == 0:
        stat.record(hbt)
    return (roi_ub - roi_lb) / tick_size


def allocates_without_bound(hbt, recorder):
    # A runaway strategy: holds ever more memory (touched, so it is really used) until stopped.
    held = []
    while True:
        held.append(np.ones(8_000_000))  # 64 MB a step
