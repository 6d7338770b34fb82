"""From hftbacktest's state record to an equity curve and per-part metrics.

Equity = balance + position x price x contract size - fees. Ratios (Sharpe, Sortino, drawdown)
come from hftbacktest's own stats module on the record resampled to ``RESAMPLE_EVERY``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["CURVE_SCHEMA", "METRIC_COLUMNS", "compute_metrics", "curve_from_record", "equity"]

RESAMPLE_EVERY = "1s"
SECONDS_PER_DAY = 86_400

CURVE_SCHEMA = pa.schema(
    [
        ("timestamp", pa.int64()),
        ("price", pa.float64()),
        ("position", pa.float64()),
        ("balance", pa.float64()),
        ("fee", pa.float64()),
        ("num_trades", pa.int64()),
        ("trading_volume", pa.float64()),
        ("trading_value", pa.float64()),
        ("equity", pa.float64()),
    ]
)

# Per-part metric columns, in table order. ``return`` is PnL over the config's
# risk.notional_limits.max_gross_notional (the capital the risk section allocates).
METRIC_COLUMNS = (
    "pnl",
    "return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "return_over_mdd",
    "trades",
    "volume",
    "trading_value",
    "fees",
    "max_position_value",
    "records",
    "data_coverage",
)


def equity(record: np.ndarray, contract_size: float) -> np.ndarray:
    """balance + position x price x contract size - fees, per record row."""
    position_value = record["position"] * record["price"] * contract_size
    return record["balance"] + position_value - record["fee"]


def curve_from_record(record: np.ndarray, contract_size: float) -> pa.Table:
    """The equity/position curve of one asset's record as an Arrow table."""
    columns = {name: record[name] for name in CURVE_SCHEMA.names if name != "equity"}
    columns["equity"] = equity(record, contract_size)
    return pa.table(
        [pa.array(np.ascontiguousarray(columns[f.name]), type=f.type) for f in CURVE_SCHEMA],
        schema=CURVE_SCHEMA,
    )


def _finite_or_none(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def compute_metrics(
    record: np.ndarray,
    contract_size: float,
    book_size: float | None = None,
    span: tuple[int, int] | None = None,
    baseline: np.ndarray | None = None,
) -> dict[str, float | int | None]:
    """Per-part metrics. Values that are undefined (no variance, too few samples) are None.

    ``span`` is the part's (first, last) local timestamp: ``data_coverage`` is the share of it
    the strategy's record reaches. A strategy that leaves its loop early (hftbacktest returns an
    error code from ``elapse``, e.g. for a reused order id) would otherwise look like a quiet
    part.

    ``baseline`` (a record of at most one row: the state just before the record starts, e.g. the
    last warm-up row) is what PnL, trades, volume, value and fees count from; without it, PnL
    counts from the first priced row and the counters from zero."""
    result: dict[str, float | int | None] = dict.fromkeys(METRIC_COLUMNS)
    result["records"] = len(record)
    if len(record) == 0:
        return result
    if span is not None and span[1] > span[0]:
        reached = int(record["timestamp"][-1]) - span[0]
        result["data_coverage"] = round(min(1.0, max(0.0, reached / (span[1] - span[0]))), 6)
    counters = ("num_trades", "trading_volume", "trading_value", "fee")
    origin: dict[str, Any] = dict.fromkeys(counters, 0)
    if baseline is not None and len(baseline):
        origin = {name: baseline[0][name] for name in counters}
        record = np.concatenate([baseline[:1], record])
    # Record rows before the book has both sides carry NaN prices; they hold no equity yet.
    valid = record[np.isfinite(record["price"])]
    last = record[-1]
    result["trades"] = int(last["num_trades"] - origin["num_trades"])
    result["volume"] = float(last["trading_volume"] - origin["trading_volume"])
    result["trading_value"] = float(last["trading_value"] - origin["trading_value"])
    result["fees"] = float(last["fee"] - origin["fee"])
    if len(valid) == 0:
        return result
    valid_equity = equity(valid, contract_size)
    pnl = float(valid_equity[-1] - valid_equity[0])
    result["pnl"] = pnl
    if book_size:
        result["return"] = pnl / book_size
    # Sharpe and Sortino over the part's own span, not annualised: hftbacktest scales the ratio
    # of the 1 s PnL by sqrt(samples per day x "days per year"); with the part's length in days
    # as that year, the factor is sqrt(seconds in the part). Annualising a 75 s part would
    # multiply by sqrt(31.5 M s / 75 s) ~ 650 and make noise look like a four-digit ratio.
    first, last = (
        span
        if span is not None and span[1] > span[0]
        else (
            int(valid["timestamp"][0]),
            int(valid["timestamp"][-1]),
        )
    )
    part_days = max(last - first, 1_000_000_000) / 1e9 / SECONDS_PER_DAY
    # hftbacktest's stats load polars and numba (about half a second): imported by the workers
    # that compute metrics, not by the code location that only names the columns.
    from hftbacktest.stats import LinearAssetRecord
    from hftbacktest.stats.metrics import (
        SR,
        MaxDrawdown,
        MaxPositionValue,
        ReturnOverMDD,
        Sortino,
    )

    stats_metrics = [
        SR("sharpe", trading_days_per_year=part_days),
        Sortino("sortino", trading_days_per_year=part_days),
        MaxDrawdown("max_drawdown"),
        ReturnOverMDD("return_over_mdd"),
        MaxPositionValue("max_position_value"),
    ]
    try:
        with np.errstate(all="ignore"):
            stats = (
                LinearAssetRecord(valid)
                .contract_size(contract_size)
                .resample(RESAMPLE_EVERY)
                .stats(stats_metrics)
            )
        summary = stats.splits[-1]
    except (IndexError, ZeroDivisionError, TypeError):
        # Too few resampled rows: ratios are undefined for this part (with one PnL row, polars'
        # std() is None and hftbacktest's Sharpe divides by it: TypeError).
        return result
    for key in ("sharpe", "sortino", "max_drawdown", "return_over_mdd", "max_position_value"):
        result[key] = _finite_or_none(summary.get(key))
    return result
