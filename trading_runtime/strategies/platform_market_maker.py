"""A one-level market maker on trading-platform's ``Strategy`` API (needs the framework).

It quotes ``half_spread_ticks`` away from the touch on each side with ``order_qty``; each side has
one stable order slot, replaced in place when the quote moves. The framework's risk engine (the
config's ``risk`` section) gates every intent.
"""

from __future__ import annotations

from typing import Any

try:
    from trading_platform import (
        NewOrderIntent,
        Price,
        Quantity,
        ReplaceOrderIntent,
        SlotKey,
        Strategy,
        stable_slot_order_id,
    )
except ImportError as exc:  # pragma: no cover - exercised only without the framework
    from trading_runtime.adapters.trading_platform import install_hint

    raise ImportError(f"{exc}; {install_hint()}") from exc

_NAMESPACE = "trading_runtime.platform_market_maker"


class PlatformMarketMaker(Strategy):
    def __init__(
        self, half_spread_ticks: int = 2, order_qty: float = 0.1, post_only: bool = True
    ) -> None:
        self.half_spread_ticks = int(half_spread_ticks)
        self.order_qty = float(order_qty)
        self.time_in_force = "POST_ONLY" if post_only else "GTC"

    def _intent(self, state: Any, event: Any, side: str, price: float) -> Any | None:
        instrument = str(event.instrument)
        order_id = stable_slot_order_id(SlotKey(instrument, side, 0), namespace=_NAMESPACE)
        if state.has_inflight(instrument, order_id):
            return None  # the venue has not answered this slot's last request yet
        working = state.get_working_order_snapshot(instrument, order_id)
        if working is not None and abs(working.intended_price - price) < 1e-9:
            return None  # already quoting there
        common = {
            "ts_ns_local": event.ts_ns_local,
            "instrument": instrument,
            "client_order_id": order_id,
            "order_type": "limit",
            "side": side,
            "intended_price": Price(currency="UNKNOWN", value=price),
            "intended_qty": Quantity(value=self.order_qty, unit="contracts"),
        }
        if state.is_order_id_busy(instrument, order_id):
            return ReplaceOrderIntent(intent_type="replace", **common)
        return NewOrderIntent(intent_type="new", time_in_force=self.time_in_force, **common)

    def on_feed(self, state: Any, event: Any, engine_cfg: Any, constraints: Any) -> list[Any]:
        if not constraints.trading_enabled or not event.is_book() or event.book is None:
            return []
        if not event.book.bids or not event.book.asks:
            return []
        tick = float(engine_cfg.tick_size)
        best_bid = float(event.book.bids[0].price.value)
        best_ask = float(event.book.asks[0].price.value)
        bid = round(best_bid / tick - self.half_spread_ticks) * tick
        ask = round(best_ask / tick + self.half_spread_ticks) * tick
        intents = (self._intent(state, event, "buy", bid), self._intent(state, event, "sell", ask))
        return [intent for intent in intents if intent is not None]

    def on_order_update(self, state: Any, engine_cfg: Any, constraints: Any) -> list[Any]:
        return []

    def on_risk_decision(self, decision: Any) -> None:
        return None
