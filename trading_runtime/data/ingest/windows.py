"""A conversion's events cut into parts on a time window, each after a day's first starting from
the previous part's end-of-window book (``hftbacktest.data.utils.snapshot.create_last_snapshot``).

Parts are contiguous slices of the converter's array, cut where the events' time (local_ts for
local events, exch_ts for exchange-only rows; its running maximum) reaches a window boundary, a
multiple of the window since the epoch (UTC). So each part keeps hftbacktest's event order, and
the parts' feed events concatenated are the converter's array. A snapshot is prepended to a part
as hftbacktest's converters write one: per side, a clear event up to the snapshot's furthest
level, then its levels as snapshot events, all at the part's first exchange timestamp."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
)
from hftbacktest.data.utils.snapshot import create_last_snapshot

from trading_runtime.layout import check_part_key

__all__ = ["MINUTE_NS", "Window", "cut_windows", "part_name", "snapshot_prefix"]

MINUTE_NS = 60_000_000_000
_DAY_NS = 24 * 60 * MINUTE_NS
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Window:
    """One part to be: its name, window (``end_ns`` None without a window) and events."""

    name: str
    start_ns: int
    end_ns: int | None
    events: np.ndarray


def part_name(symbol: str, start_ns: int) -> str:
    """``<symbol>-<yyyymmdd>-<hhmm>`` (UTC) of a window's start; characters a part name cannot
    hold become ``_``."""
    stamp = datetime.fromtimestamp(start_ns / 1e9, tz=UTC).strftime("%Y%m%d-%H%M")
    return check_part_key(f"{_UNSAFE.sub('_', symbol) or 'raw'}-{stamp}")


def _event_time(events: np.ndarray) -> np.ndarray:
    local = (events["ev"] & np.uint64(LOCAL_EVENT)) != 0
    return np.maximum.accumulate(np.where(local, events["local_ts"], events["exch_ts"]))


def cut_windows(events: np.ndarray, symbol: str, window_ns: int | None) -> list[Window]:
    """The parts of a conversion: one without a window (named after its first minute), else
    one per window that holds events."""
    if len(events) == 0:
        return []
    if window_ns is None:  # only the first event's time
        start = int(_event_time(events[:1])[0]) // MINUTE_NS * MINUTE_NS
        return [Window(part_name(symbol, start), start, None, events)]
    times = _event_time(events)
    first = int(times[0]) // window_ns * window_ns
    bounds = np.arange(first, int(times[-1]) + window_ns + 1, window_ns, dtype=np.int64)
    cuts = np.searchsorted(times, bounds, side="left")
    windows = []
    for start, lo, hi in zip(bounds[:-1], cuts[:-1], cuts[1:], strict=True):
        if hi > lo:
            name = part_name(symbol, int(start))
            windows.append(Window(name, int(start), int(start) + window_ns, events[lo:hi]))
    return windows


def same_day(before: Window, after: Window) -> bool:
    return before.start_ns // _DAY_NS == after.start_ns // _DAY_NS


def snapshot_prefix(previous: np.ndarray, first: np.ndarray, tick: float, lot: float) -> np.ndarray:
    """The book at the end of ``previous`` (hftbacktest's ``create_last_snapshot``), as events
    to put before ``first``: per side a clear event, then the levels, at ``first``'s first
    exchange timestamp."""
    snapshot = create_last_snapshot([previous], tick_size=tick, lot_size=lot)
    seen = np.uint64(EXCH_EVENT | LOCAL_EVENT)
    at = int(first["exch_ts"].min())
    rows = []
    for side, furthest in ((BUY_EVENT, np.min), (SELL_EVENT, np.max)):
        levels = snapshot[(snapshot["ev"] & np.uint64(side)) != 0].copy()
        if len(levels) == 0:
            continue
        clear = levels[:1].copy()
        clear["ev"] = seen | np.uint64(side | DEPTH_CLEAR_EVENT)
        clear["px"], clear["qty"] = furthest(levels["px"]), 0.0
        levels["ev"] = seen | np.uint64(side | DEPTH_SNAPSHOT_EVENT)
        rows += [clear, levels]
    if not rows:
        return first[:0].copy()
    prefix = np.concatenate(rows)
    prefix["exch_ts"] = at
    prefix["local_ts"] = at
    prefix["order_id"], prefix["ival"], prefix["fval"] = 0, 0, 0.0
    return prefix
