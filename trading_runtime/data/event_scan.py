"""One pass over a part's events that says whether every check of ``validate.check_events``
holds, and the spans a part's facts record (times, prices).

The checks in ``validate`` are numpy expressions, a dozen passes over every 64-byte row plus
column copies: on a 2-million-event part (a day of a Tardis book) they cost more than the rest of
the runtime's work around hftbacktest's converter (issue 19's 10 % budget). This kernel reads
each row once. It only answers "all good"; a part that breaks any rule goes through the numpy
checks, which find the first offending row and say what is wrong with it, as before.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hftbacktest import EXCH_EVENT, LOCAL_EVENT
from numba import njit

__all__ = ["EventScan", "scan_events"]

_EXCH = np.uint64(EXCH_EVENT)
_LOCAL = np.uint64(LOCAL_EVENT)
_SEEN = np.uint64(EXCH_EVENT | LOCAL_EVENT)
_KIND = np.uint64(0xFF)


class EventScan(NamedTuple):
    """``valid``: every value and order rule holds (finite ``px``/``qty``, timestamps inside
    ``[min_ts, max_ts)``, exchange and local times non-decreasing over their events,
    ``local_ts >= exch_ts``); ``has_price``: some depth or trade event is seen by either side,
    and ``min_px``/``max_px`` span their prices. The time spans are over all events. Only
    ``valid`` is meaningful when it is False (the scan stops at the first broken rule)."""

    valid: bool
    has_price: bool
    first_exch_ts: int
    last_exch_ts: int
    first_local_ts: int
    last_local_ts: int
    min_px: float
    max_px: float


_LOW, _HIGH = np.iinfo(np.int64).min, np.iinfo(np.int64).max


@njit(cache=True)
def _scan(ev, exch_ts, local_ts, px, qty, is_price_kind, min_ts, max_ts):  # numba: untyped
    valid, has_price = True, False
    last_exch, last_local = _LOW, _LOW  # the latest time over exchange / local events
    exch_lo, exch_hi, local_lo, local_hi = _HIGH, _LOW, _HIGH, _LOW
    px_lo, px_hi = np.inf, -np.inf
    for i in range(len(ev)):
        flags, exch, local, price = ev[i], exch_ts[i], local_ts[i], px[i]
        if not (np.isfinite(price) and np.isfinite(qty[i])):
            valid = False
            break
        if exch < min_ts or exch >= max_ts or local < min_ts or local >= max_ts or local < exch:
            valid = False
            break
        if flags & _EXCH:
            if exch < last_exch:
                valid = False
                break
            last_exch = exch
        if flags & _LOCAL:
            if local < last_local:
                valid = False
                break
            last_local = local
        if flags & _SEEN and is_price_kind[flags & _KIND]:
            has_price = True
            px_lo, px_hi = min(px_lo, price), max(px_hi, price)
        exch_lo, exch_hi = min(exch_lo, exch), max(exch_hi, exch)
        local_lo, local_hi = min(local_lo, local), max(local_hi, local)
    return valid, has_price, exch_lo, exch_hi, local_lo, local_hi, px_lo, px_hi


def scan_events(data: np.ndarray, is_price_kind: np.ndarray, min_ts: int, max_ts: int) -> EventScan:
    """Scan an event array (hftbacktest's ``event_dtype``) in one pass; ``is_price_kind`` is
    indexed by the low byte of ``ev``."""
    found = _scan(
        data["ev"],
        data["exch_ts"],
        data["local_ts"],
        data["px"],
        data["qty"],
        is_price_kind,
        np.int64(min_ts),
        np.int64(max_ts),
    )
    valid, has_price, exch_lo, exch_hi, local_lo, local_hi, px_lo, px_hi = found
    return EventScan(
        bool(valid),
        bool(has_price),
        int(exch_lo),
        int(exch_hi),
        int(local_lo),
        int(local_hi),
        float(px_lo),
        float(px_hi),
    )
