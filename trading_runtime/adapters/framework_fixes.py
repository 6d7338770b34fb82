"""Named, opt-in fixes around the pinned trading-platform framework (``engine.framework_fixes``).

At the pinned commit the framework cannot keep trading on hftbacktest: filled and cancelled
orders stay in hftbacktest's order map (a stable order id can never be reused), hftbacktest's
order statuses 2 and 5 and time-in-force codes 1 and 3 are read swapped, an order the exchange
has not acknowledged yet stops the backtest with a validation error, and an hftbacktest error code
makes its loop spin. No later commit of the framework fixes them. Each fix here is a small patch
around one method of the framework's venue adapter or order state, in place only while one
backtest runs and only when the config names it; with no fixes named nothing is patched.

The codes are hftbacktest 2.4.4's (``hftbacktest.order``; ``Status`` and ``TimeInForce`` in its
Rust ``types.rs``): statuses NONE 0, NEW 1, EXPIRED 2, FILLED 3, CANCELED 4, PARTIALLY_FILLED 5,
REJECTED 6; time in force GTC 0, GTX 1 (post-only), FOK 2, IOC 3.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from trading_runtime.adapters.base import EngineError
from trading_runtime.adapters.hftbacktest.codes import hftbacktest_error_name
from trading_runtime.config import FRAMEWORK_FIXES

__all__ = ["FRAMEWORK_FIXES", "PATCHES", "FrameworkPatch", "applied_framework_fixes"]

_VENUE = ("trading_platform.backtest.adapters.venue", "HftBacktestVenueAdapter")
_STATE = ("trading_platform.core.domain.state", "StrategyState")

# hftbacktest's code -> the code the framework reads as the same thing. The framework reads
# status 2 as partially filled and 5 as expired (hftbacktest: 2 EXPIRED, 5 PARTIALLY_FILLED), and
# time in force 1 as IOC and 3 as post-only (hftbacktest: 1 GTX, the post-only one, 3 IOC),
# although its own execution adapter sends post-only as 1 and IOC as 3.
_STATUS_AS_FRAMEWORK_READS = {2: 5, 5: 2}
_TIME_IN_FORCE_AS_FRAMEWORK_READS = {1: 3, 3: 1}


class _OrderView:
    """One of hftbacktest's order snapshots with some fields read differently."""

    __slots__ = ("_order", "_replaced")

    def __init__(self, order: Any, replaced: dict[str, Any]) -> None:
        self._order = order
        self._replaced = replaced

    def __getattr__(self, name: str) -> Any:
        if name in self._replaced:
            return self._replaced[name]
        return getattr(self._order, name)


def _view(order: Any, **replaced: Any) -> Any:
    if isinstance(order, _OrderView):  # several fixes: one view
        return _OrderView(order._order, {**order._replaced, **replaced})
    return _OrderView(order, replaced)


def _clear_inactive(read_orders_snapshot: Callable[..., Any]) -> Callable[..., Any]:
    """hftbacktest keeps every filled, cancelled and expired order in its order map until the
    strategy calls ``clear_inactive_orders``; the framework never does, so it re-reads them on
    every order response, and hftbacktest refuses a new order under an id used before (a
    strategy's stable slot ids) with ``OrderIdExist``. Cleared right after the framework read
    its snapshot of the orders: every inactive order has been seen once by the framework's state
    (which drops terminal orders) before it goes. Not before each step: an order response
    processed in the same step as a market feed is reported as a feed, and its order would be
    gone unseen."""

    def read_then_clear(venue: Any) -> tuple[Any, Any]:
        state_values, orders = read_orders_snapshot(venue)
        if not isinstance(orders, list):
            # A live view of hftbacktest's map would lose the orders cleared below.
            raise EngineError(
                "framework fix clear_inactive_orders needs a copied orders snapshot; run it"
                " inside trading_platform.deterministic_order_snapshots()"
            )
        venue.hbt.clear_inactive_orders(venue.asset_no)
        return state_values, orders

    return read_then_clear


def _error_codes(wait_next: Callable[..., Any]) -> Callable[..., Any]:
    """The framework's loop stops only on 1 (end of data) and treats any other code as a step;
    hftbacktest returns an error code without advancing, so an error made the loop spin at one
    timestamp until the recorder ran out of rows (an ``IndexError`` from hftbacktest's recorder,
    up to ``max_steps`` wasted steps later). With this fix an error code ends the backtest with
    an error naming it."""

    def wait_next_or_fail(venue: Any, *, timeout_ns: int, include_order_resp: bool) -> int:
        code = wait_next(venue, timeout_ns=timeout_ns, include_order_resp=include_order_resp)
        if int(code) not in (0, 1, 2, 3):
            name = hftbacktest_error_name(int(code))
            hint = ""
            if int(code) == 14:
                hint = (
                    "; hftbacktest 2.4.4's partial-fill exchange keeps an order a trade filled"
                    " exactly and fails on the next trade at its price"
                    " (engine.partial_fill_venue: false avoids it)"
                )
            raise EngineError(
                f"hftbacktest returned error code {int(code)} ({name}) while the framework"
                f" waited for the next event at {venue.current_timestamp_ns()}{hint}"
            )
        return int(code)

    return wait_next_or_fail


def _status_codes(ingest_one: Callable[..., Any]) -> Callable[..., Any]:
    """An expired order (a post-only order that would cross, an IOC remainder) was kept as a
    working, partially filled order forever, and a partially filled order was dropped as
    expired while it still rested on the book. The framework's own status mapping is kept; it
    is handed the code it uses for hftbacktest's status. The snapshot's ``raw`` keeps
    hftbacktest's code."""

    def ingest(self: Any, instrument: str, order: Any, map_status: Callable[..., str]) -> Any:
        def map_hftbacktest_status(status: int, req: int, order_id: Any) -> str:
            status = _STATUS_AS_FRAMEWORK_READS.get(int(status), int(status))
            return map_status(status, req, order_id)

        return ingest_one(self, instrument, order, map_hftbacktest_status)

    return ingest


def _time_in_force(ingest_one: Callable[..., Any]) -> Callable[..., Any]:
    """Order snapshots of post-only orders said IOC and IOC orders said post-only (only the
    label in the framework's order state; orders were sent with the right codes)."""

    def ingest(self: Any, instrument: str, order: Any, map_status: Callable[..., str]) -> Any:
        code = int(order.time_in_force)
        if code in _TIME_IN_FORCE_AS_FRAMEWORK_READS:
            order = _view(order, time_in_force=_TIME_IN_FORCE_AS_FRAMEWORK_READS[code])
        return ingest_one(self, instrument, order, map_status)

    return ingest


def _unacknowledged_orders(ingest_one: Callable[..., Any]) -> Callable[..., Any]:
    """An order the exchange has not acknowledged has ``exch_timestamp`` 0, which the
    framework's ``OrderStateEvent`` refuses (``Input should be greater than 0``): the backtest
    stopped whenever an order response arrived while another order was on its way. Such an order
    is ingested with its local (request) timestamp as the exchange timestamp, not skipped: the
    framework maps it to ``pending_new`` on purpose, so its risk limits count it, and an order
    the exchange rejected before acknowledging it keeps ``exch_timestamp`` 0 in hftbacktest
    with a terminal status, so skipping it would leave its in-flight marker (and the strategy's
    slot) blocked for the rest of the backtest. The acknowledgement's snapshot (same local
    timestamp, a later exchange timestamp) replaces it."""

    def ingest(self: Any, instrument: str, order: Any, map_status: Callable[..., str]) -> Any:
        if int(order.exch_timestamp) <= 0:
            order = _view(order, exch_timestamp=order.local_timestamp)
        return ingest_one(self, instrument, order, map_status)

    return ingest


@dataclass(frozen=True)
class FrameworkPatch:
    """Which method of the framework a fix wraps, and how."""

    module: str
    cls: str
    method: str
    wrap: Callable[[Callable[..., Any]], Callable[..., Any]]


_INGEST = (*_STATE, "_ingest_one_hft_order")
PATCHES: dict[str, FrameworkPatch] = {
    "clear_inactive_orders": FrameworkPatch(*_VENUE, "read_orders_snapshot", _clear_inactive),
    "hftbacktest_error_codes": FrameworkPatch(*_VENUE, "wait_next", _error_codes),
    "hftbacktest_status_codes": FrameworkPatch(*_INGEST, _status_codes),
    "hftbacktest_time_in_force": FrameworkPatch(*_INGEST, _time_in_force),
    "unacknowledged_orders": FrameworkPatch(*_INGEST, _unacknowledged_orders),
}  # fmt: skip
assert tuple(PATCHES) == FRAMEWORK_FIXES, "one patch per name the config accepts"


def _framework_class(fix: str, patch: FrameworkPatch) -> type:
    where = f"{patch.module}.{patch.cls}.{patch.method}"
    try:
        cls = getattr(importlib.import_module(patch.module), patch.cls)
    except (ImportError, AttributeError):
        cls = None
    if not isinstance(cls, type) or not callable(getattr(cls, patch.method, None)):
        raise EngineError(
            f"engine.framework_fixes: {fix!r} patches trading-platform's {where}, which the"
            " installed framework does not have (the fixes are written for the pinned commit)"
        )
    return cls


@contextmanager
def applied_framework_fixes(fixes: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Patch the framework with the named fixes (in ``FRAMEWORK_FIXES`` order) while the block
    runs and restore it afterwards; yields the names applied. No names: nothing is touched."""
    unknown = sorted(set(fixes) - set(PATCHES))
    if unknown:
        raise EngineError(f"unknown framework fix(es) {unknown}; known: {list(PATCHES)}")
    applied = tuple(name for name in PATCHES if name in fixes)
    with ExitStack() as restore:
        for name in applied:
            patch = PATCHES[name]
            cls = _framework_class(name, patch)
            original = getattr(cls, patch.method)
            if patch.method in vars(cls):
                restore.callback(setattr, cls, patch.method, original)
            else:  # inherited: drop the patch, the base class's method shows again
                restore.callback(delattr, cls, patch.method)
            setattr(cls, patch.method, patch.wrap(original))
        yield applied
