"""Whether a validated part (and its warm-up parts) fits a config, before the engine starts: the
ROI covers its touch (best bid/ask and trades), the recorder can hold its span, and warm-up
inputs are in order, without overlaps or gaps, covering ``warmup.duration_ns``."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from trading_runtime.config import BacktestConfig, WarmupSection
from trading_runtime.data.order import WarmupError, seconds
from trading_runtime.data.part_info import PartInfo, PartValidationError
from trading_runtime.data.roi import RoiChoice, resolve_roi

__all__ = [
    "ORDER_QTY_PARAMETER",
    "RECORD_INTERVAL_PARAMETER",
    "check_inputs",
    "check_order_size",
    "check_part_fits_config",
    "check_records_possible",
    "check_roi_covers",
    "check_warmup_fits_config",
]

# The strategy parameter that sets how often the example strategies call ``recorder.record``.
RECORD_INTERVAL_PARAMETER = "interval_ns"
# The strategy parameter that sets the example strategies' order size, checked against the
# instrument and the risk limits.
ORDER_QTY_PARAMETER = "order_qty"


def _ms(ns: int) -> str:
    return f"{ns / 1e6:g} ms"


def check_records_possible(part: PartInfo, interval_ns: int, max_steps: int | None = None) -> None:
    """Fail when a part spans less than one record interval, or (given ``engine.max_steps``)
    more intervals than the recorder holds.

    hftbacktest's clock starts at the part's first exchange timestamp; a strategy that records
    every ``interval_ns`` (the example strategies: ``elapse(interval_ns)`` then
    ``recorder.record``) until the last local timestamp writes
    ``(last_local_ts - first_exch_ts) // interval_ns`` rows."""
    span = part.last_local_ts - part.first_exch_ts
    if span < interval_ns:
        raise PartValidationError(
            f"part {part.path}: spans {_ms(span)} (first exch_ts to last local_ts), shorter than"
            f" one record interval (strategy.{RECORD_INTERVAL_PARAMETER} = {_ms(interval_ns)}):"
            " the backtest would record nothing"
        )
    records = span // interval_ns
    # hftbacktest's recorder raises when its last slot fills: it keeps max_steps - 1 records.
    if max_steps is not None and records >= max_steps:
        raise PartValidationError(
            f"part {part.path}: spans {_ms(span)}, {records} record intervals of"
            f" strategy.{RECORD_INTERVAL_PARAMETER} = {_ms(interval_ns)}; the recorder"
            f" (engine.max_steps = {max_steps}) holds {max_steps - 1}: raise max_steps or the"
            " interval"
        )


def check_roi_covers(config: BacktestConfig, part: PartInfo, roi: RoiChoice | None = None) -> None:
    """Fail when the ROI (``roi``, else the config's: ``engine.depth.roi_lb``..``roi_ub`` or
    ``roi: "auto"`` resolved over this part) does not cover the part's touch: its best bid/ask
    over time and its trade prices (``data.touch``). Without them the book (and every recorded
    price) would be empty or wrong without an error. Depth resting outside the ROI is not
    refused: hftbacktest ignores it by design (``RoiChoice.depth_outside_roi`` counts it)."""
    if roi is None:
        roi = resolve_roi(config, [part])
    if roi is None:
        return
    low, high = part.touch_min_px, part.touch_max_px
    what = "best bid/ask and trade prices"
    if low is None or high is None:  # no L2 book nor trades (order-by-order data): every price
        low, high, what = part.min_px, part.max_px, "prices"
    if low is None or high is None:
        return
    if low < roi.roi_lb or high > roi.roi_ub:
        where = "engine.depth.roi_lb..roi_ub" if roi.source == "config" else 'roi "auto"'
        raise PartValidationError(
            f"part {part.path}: {what} {low:g}..{high:g} are not inside config"
            f" {config.id!r}'s ROI {where} = {roi.roi_lb:g}..{roi.roi_ub:g}; widen"
            " the ROI to cover them"
        )


def check_part_fits_config(
    config: BacktestConfig, part: PartInfo, roi: RoiChoice | None = None
) -> None:
    """The checks that need both the config and the part, before the engine starts: the ROI
    covers the part's touch, and, when the config sets the strategy's record interval
    (``strategy.interval_ns``; a strategy's own default is not known here), the part spans at
    least one interval and no more than ``engine.max_steps`` of them."""
    check_roi_covers(config, part, roi)
    check_order_size(config, part)
    interval = config.strategy.params.get(RECORD_INTERVAL_PARAMETER)
    if isinstance(interval, int) and not isinstance(interval, bool) and interval > 0:
        check_records_possible(part, interval, config.engine.max_steps)


def check_order_size(config: BacktestConfig, part: PartInfo) -> None:
    """``strategy.order_qty``, where the config sets it, against the instrument (at least one
    ``engine.lot_size``) and the risk limits the config states: one order at the part's highest
    touch price (best bid/ask and trades; its highest price when the touch is unknown) must fit
    ``risk.notional_limits.max_single_order_notional`` (else ``max_gross_notional``). Otherwise
    an absurd size (1e300) overflows the engine's money. Resting depth far from the touch, which
    real books hold, is no price an order trades at."""
    qty = config.strategy.params.get(ORDER_QTY_PARAMETER)
    if not isinstance(qty, int | float) or isinstance(qty, bool):
        return
    lot = config.engine.lot_size
    if qty < lot:
        raise PartValidationError(
            f"part {part.name}: strategy.order_qty = {qty:g} is less than one lot"
            f" (engine.lot_size = {lot:g}); expected at least {lot:g}"
        )
    limits = config.risk.notional_limits if config.risk is not None else None
    price = part.touch_max_px if part.touch_max_px is not None else part.max_px
    if limits is None or price is None:
        return
    single = limits.max_single_order_notional
    name, limit = (
        ("max_single_order_notional", single)
        if single is not None
        else ("max_gross_notional", limits.max_gross_notional)
    )
    if limit is None:
        return
    notional = qty * price * config.engine.contract_size
    if notional > limit:
        raise PartValidationError(
            f"part {part.name}: strategy.order_qty = {qty:g} at the part's highest price"
            f" {price:g} is an order of {notional:g}, more than"
            f" risk.notional_limits.{name} = {limit:g}"
        )


def check_inputs(section: WarmupSection, inputs: Sequence[PartInfo]) -> None:
    """The exact checks on validated inputs (warm-up parts, then the scored part): each starts
    after the previous one ends, on both clocks; no gap exceeds ``max_gap_ns``; the warm-up
    covers ``duration_ns``."""
    scored = inputs[-1]
    for before, after in itertools.pairwise(inputs):
        for column in ("exch_ts", "local_ts"):
            last = getattr(before, f"last_{column}")
            first = getattr(after, f"first_{column}")
            if last > first:
                raise WarmupError(
                    f"part {scored.name}: warm-up input {before.name} overlaps {after.name}: its"
                    f" last {column} {last} is after {after.name}'s first {first}; parts must not"
                    " overlap in time"
                )
        gap = after.first_exch_ts - before.last_exch_ts
        if section.max_gap_ns is not None and gap > section.max_gap_ns:
            raise WarmupError(
                f"part {scored.name}: {seconds(gap)} of no data between {before.name} and"
                f" {after.name}, more than warmup.max_gap_ns = {section.max_gap_ns}"
                f" ({seconds(section.max_gap_ns)}): a part is missing"
            )
    if section.duration_ns is not None:
        covered = scored.first_exch_ts - inputs[0].first_exch_ts
        if covered < section.duration_ns:
            raise WarmupError(
                f"part {scored.name}: the warm-up covers {seconds(covered)}, less than"
                f" warmup.duration_ns = {section.duration_ns} ({seconds(section.duration_ns)})"
            )


def check_warmup_fits_config(
    config: BacktestConfig,
    warmup: Sequence[PartInfo],
    scored: PartInfo,
    roi: RoiChoice | None = None,
) -> None:
    """``check_inputs``, and ``check_part_fits_config`` over all inputs: the ROI covers every
    input's prices, and the recorder (``engine.max_steps``) holds the whole span, warm-up
    included (the strategy records from the first warm-up event)."""
    if config.warmup is None:
        raise WarmupError(f"part {scored.name}: warm-up parts given but the config has no warmup")
    check_inputs(config.warmup, [*warmup, scored])
    if roi is None:
        roi = resolve_roi(config, [*warmup, scored])
    for info in warmup:
        check_roi_covers(config, info, roi)
    whole = dataclasses.replace(
        scored,
        path=f"{scored.path} with {len(warmup)} warm-up part(s) before it",
        first_exch_ts=warmup[0].first_exch_ts if warmup else scored.first_exch_ts,
    )
    check_part_fits_config(config, whole, roi)
