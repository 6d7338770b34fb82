"""From hftbacktest's state record to an equity curve, per-part metrics and the aggregate table.

Equity = balance + position x price x contract size - fees. Ratios (Sharpe, Sortino, drawdown)
come from hftbacktest's own stats module on the record resampled to ``RESAMPLE_EVERY``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from hftbacktest.stats import LinearAssetRecord
from hftbacktest.stats.metrics import (
    SR,
    MaxDrawdown,
    MaxPositionValue,
    ReturnOverMDD,
    Sortino,
)

RESAMPLE_EVERY = "1s"
# Crypto markets trade every day; the annualisation factor of Sharpe and Sortino.
TRADING_DAYS_PER_YEAR = 365

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
# Provenance per row: results aggregated together should come from one config and engine.
PROVENANCE_COLUMNS = ("config_hash", "engine", "engine_version", "framework_sha", "content_hash")
ADDITIVE_COLUMNS = ("pnl", "trades", "volume", "trading_value", "fees", "records", "n_events")


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
) -> dict[str, float | int | None]:
    """Per-part metrics. Values that are undefined (no variance, too few samples) are None.

    ``span`` is the part's (first, last) local timestamp: ``data_coverage`` is the share of it
    the strategy's record reaches. A strategy that leaves its loop early (hftbacktest returns an
    error code from ``elapse``, e.g. for a reused order id) would otherwise look like a quiet
    part."""
    result: dict[str, float | int | None] = dict.fromkeys(METRIC_COLUMNS)
    result["records"] = len(record)
    if len(record) == 0:
        return result
    if span is not None and span[1] > span[0]:
        reached = int(record["timestamp"][-1]) - span[0]
        result["data_coverage"] = round(min(1.0, max(0.0, reached / (span[1] - span[0]))), 6)
    # Record rows before the book has both sides carry NaN prices; they hold no equity yet.
    valid = record[np.isfinite(record["price"])]
    last = record[-1]
    result["trades"] = int(last["num_trades"])
    result["volume"] = float(last["trading_volume"])
    result["trading_value"] = float(last["trading_value"])
    result["fees"] = float(last["fee"])
    if len(valid) == 0:
        return result
    valid_equity = equity(valid, contract_size)
    pnl = float(valid_equity[-1] - valid_equity[0])
    result["pnl"] = pnl
    if book_size:
        result["return"] = pnl / book_size
    stats_metrics = [
        SR("sharpe", trading_days_per_year=TRADING_DAYS_PER_YEAR),
        Sortino("sortino", trading_days_per_year=TRADING_DAYS_PER_YEAR),
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


def aggregate_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """One row per part (sorted by partition key) plus a ``TOTAL`` row.

    Additive columns are summed; max_drawdown's total is the worst part; ratios have no total.
    A provenance column's total is its value when all parts agree, else ``mixed``.
    """
    ordered = sorted(rows, key=lambda row: str(row["partition"]))
    names = ["partition", "n_events", *METRIC_COLUMNS, *PROVENANCE_COLUMNS]
    total: dict[str, Any] = dict.fromkeys(names)
    total["partition"] = "TOTAL"
    for column in PROVENANCE_COLUMNS[:-1]:
        distinct = {row.get(column) for row in ordered}
        total[column] = distinct.pop() if len(distinct) == 1 else "mixed"
    for column in ADDITIVE_COLUMNS:
        values = [row.get(column) for row in ordered if row.get(column) is not None]
        total[column] = sum(values) if values else None
    drawdowns = [row["max_drawdown"] for row in ordered if row.get("max_drawdown") is not None]
    total["max_drawdown"] = max(drawdowns) if drawdowns else None
    coverages = [row["data_coverage"] for row in ordered if row.get("data_coverage") is not None]
    total["data_coverage"] = min(coverages) if coverages else None  # the least-covered part
    all_rows = [*ordered, total]
    schema = pa.schema(
        [
            ("partition", pa.string()),
            ("n_events", pa.int64()),
            *[
                (name, pa.int64() if name in ("trades", "records") else pa.float64())
                for name in METRIC_COLUMNS
            ],
            *[(name, pa.string()) for name in PROVENANCE_COLUMNS],
        ]
    )
    return pa.Table.from_pylist([{n: row.get(n) for n in names} for row in all_rows], schema=schema)


def markdown_table(table: pa.Table, max_rows: int = 50) -> str:
    """A compact markdown rendering of the aggregate table for Dagster metadata: the first
    ``max_rows`` parts and TOTAL (the parquet file has every row)."""
    columns = ("partition", "n_events", "pnl", "sharpe", "max_drawdown", "trades", "volume")
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [header, rule]
    n_parts = table.num_rows - 1
    shown = table.select(columns)
    if n_parts > max_rows:
        shown = pa.concat_tables([shown.slice(0, max_rows), shown.slice(n_parts)])
    for index, row in enumerate(shown.to_pylist()):
        if n_parts > max_rows and index == max_rows:
            lines.append(f"| … {n_parts - max_rows} more parts |" + " |" * (len(columns) - 1))
        cells = []
        for name in columns:
            value = row.get(name)
            if value is None:
                cells.append("")
            elif isinstance(value, float):
                cells.append(f"{value:.6g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
