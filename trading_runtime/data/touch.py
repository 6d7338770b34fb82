"""The touch of a part: the range of best bid and ask prices the book shows over time, and of its
trade prices. This is what a backtest needs inside the ROI; resting depth far from the touch is
ignored by hftbacktest's ROI depth by design (``config_fit``).

The book is replayed over the part's local events (what the strategy sees) with hftbacktest's
own best-level rules for its L2 depth (``HashMapMarketDepth``): a level with quantity 0 leaves
the book; when the best level leaves, the next one below (bids) or above (asks) becomes best; a
bid at or above the best ask moves the best ask above it (and the other way round); a clear event
removes one side's levels from the best down to its price (all of them when it is not finite).
The touch is sampled after the last event of each local timestamp, as a strategy that calls
``elapse`` sees it. Two simplifications, stated: quantities are not rounded to the lot size (a
quantity below half a lot still counts as a level), and order-by-order (L3) events are not
replayed (their prices count only through trades).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_BBO_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    LOCAL_EVENT,
    TRADE_EVENT,
)
from numba import njit, types
from numba.typed import Dict

__all__ = ["Touch", "count_depth_outside", "touch_range"]

_BOOK_KINDS = (DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT)
# The flags and kinds ``_replay`` reads, as the uint64 ``ev`` holds them.
_LOCAL, _BUY, _KIND = np.uint64(LOCAL_EVENT), np.uint64(BUY_EVENT), np.uint64(0xFF)
_DEPTH, _SNAPSHOT, _BBO = (
    np.uint64(DEPTH_EVENT),
    np.uint64(DEPTH_SNAPSHOT_EVENT),
    np.uint64(DEPTH_BBO_EVENT),
)
_CLEAR, _TRADE = np.uint64(DEPTH_CLEAR_EVENT), np.uint64(TRADE_EVENT)


@dataclass(frozen=True)
class Touch:
    """The lowest and highest best bid/ask (``book_*``) and trade price (``trade_*``) of a part;
    None where it has none."""

    book_min: float | None
    book_max: float | None
    trade_min: float | None
    trade_max: float | None

    @property
    def low(self) -> float | None:
        found = [p for p in (self.book_min, self.trade_min) if p is not None]
        return min(found) if found else None

    @property
    def high(self) -> float | None:
        found = [p for p in (self.book_max, self.trade_max) if p is not None]
        return max(found) if found else None


@njit(cache=True)
def _below(book: Dict, start: float) -> float:
    """The highest price in ``book`` below ``start`` (-inf when none)."""
    best = -np.inf
    for price in book:
        if best < price < start:
            best = price
    return best


@njit(cache=True)
def _above(book: Dict, start: float) -> float:
    """The lowest price in ``book`` above ``start`` (+inf when none)."""
    best = np.inf
    for price in book:
        if start < price < best:
            best = price
    return best


@njit(cache=True)
def _replay(ev, local_ts, px, qty):  # numba: untyped on purpose
    """(lowest, highest) best price seen at the end of each local timestamp, nan when none;
    (lowest, highest) finite trade price, nan when none. Reads the event columns in place:
    events the local side does not see, and other kinds, are skipped here."""
    bids = Dict.empty(key_type=types.float64, value_type=types.float64)
    asks = Dict.empty(key_type=types.float64, value_type=types.float64)
    best_bid, best_ask = -np.inf, np.inf
    low, high = np.inf, -np.inf
    trade_low, trade_high = np.inf, -np.inf
    replayed, last_ts = False, 0
    for i in range(len(ev)):
        flags = ev[i]
        if not flags & _LOCAL:
            continue
        kind, buy, price = flags & _KIND, flags & _BUY != 0, px[i]
        if kind == _TRADE:
            if np.isfinite(price):
                trade_low, trade_high = min(trade_low, price), max(trade_high, price)
            continue
        if kind != _CLEAR and kind != _DEPTH and kind != _SNAPSHOT and kind != _BBO:
            continue
        # The touch as it stood after the last event of the previous local timestamp.
        if replayed and local_ts[i] != last_ts:
            low, high = _sample(low, high, best_bid, best_ask)
        replayed, last_ts = True, local_ts[i]
        if kind == _CLEAR:  # from the best down (bids) or up (asks) to price, all if not finite
            book = bids if buy else asks
            for level in list(book.keys()):
                if not np.isfinite(price) or (level >= price if buy else level <= price):
                    del book[level]
            if buy:
                best_bid = _below(bids, np.inf)
            else:
                best_ask = _above(asks, -np.inf)
        elif buy:
            if qty[i] > 0:
                bids[price] = qty[i]
                if price > best_bid:
                    best_bid = price
                    if best_bid >= best_ask:
                        best_ask = _above(asks, best_bid)
            elif price in bids:
                del bids[price]
                if price == best_bid:
                    best_bid = _below(bids, price)
        else:
            if qty[i] > 0:
                asks[price] = qty[i]
                if price < best_ask:
                    best_ask = price
                    if best_ask <= best_bid:
                        best_bid = _below(bids, best_ask)
            elif price in asks:
                del asks[price]
                if price == best_ask:
                    best_ask = _above(asks, price)
    if replayed:
        low, high = _sample(low, high, best_bid, best_ask)
    if low > high:
        low, high = np.nan, np.nan
    if trade_low > trade_high:
        trade_low, trade_high = np.nan, np.nan
    return low, high, trade_low, trade_high


@njit(cache=True)
def _sample(low: float, high: float, best_bid: float, best_ask: float) -> tuple[float, float]:
    if np.isfinite(best_bid):
        low, high = min(low, best_bid), max(high, best_bid)
    if np.isfinite(best_ask):
        low, high = min(low, best_ask), max(high, best_ask)
    return low, high


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def touch_range(data: np.ndarray) -> Touch:
    """The part's touch: best bid/ask over its local events, and its trade prices."""
    low, high, trade_low, trade_high = _replay(
        data["ev"], data["local_ts"], data["px"], data["qty"]
    )
    return Touch(
        book_min=_finite(low),
        book_max=_finite(high),
        trade_min=_finite(trade_low),
        trade_max=_finite(trade_high),
    )


def count_depth_outside(data: np.ndarray, lower: float, upper: float) -> int:
    """How many depth events (incremental, snapshot, BBO) the local book of hftbacktest's ROI
    depth ignores: local events with a price outside ``lower``..``upper``."""
    kinds = data["ev"] & np.uint64(0xFF)
    local = (data["ev"] & np.uint64(LOCAL_EVENT)) != 0
    depth = np.isin(kinds, np.array(_BOOK_KINDS, dtype=np.uint64)) & local
    prices = data["px"][depth]
    return int(np.count_nonzero((prices < lower) | (prices > upper)))
