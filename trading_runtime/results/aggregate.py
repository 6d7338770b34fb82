"""The aggregate: one row per part (metrics and provenance) plus a TOTAL row, from stored or
fresh results. The ``aggregate_metrics`` asset and ``trading-runtime aggregate`` both write it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from upath import UPath

from trading_runtime.layout import AGGREGATE_CHART_FILE
from trading_runtime.results import CODE_INPUTS, BacktestResult
from trading_runtime.results.charts import aggregate_chart_png
from trading_runtime.results.metrics import METRIC_COLUMNS
from trading_runtime.storage import as_upath, write_file

__all__ = [
    "PROVENANCE_COLUMNS",
    "TOTAL_ROW",
    "Aggregate",
    "aggregate",
    "aggregate_results",
    "aggregate_table",
    "markdown_table",
    "mixed_provenance",
    "write_aggregate_chart",
]

# The partition name of the table's last row, the totals.
TOTAL_ROW = "TOTAL"

# Provenance per row: results aggregated together should come from the same code inputs.
PROVENANCE_COLUMNS = (*CODE_INPUTS, "content_hash")
ADDITIVE_COLUMNS = ("pnl", "trades", "volume", "trading_value", "fees", "records", "n_events")


def aggregate_results(results: Mapping[str, BacktestResult]) -> pa.Table:
    """The aggregate table of results keyed by partition."""
    rows = [
        {
            "partition": key,
            **{name: result.provenance[name] for name in ("n_events", *PROVENANCE_COLUMNS)},
            **result.metrics,
        }
        for key, result in results.items()
    ]
    return aggregate_table(rows)


@dataclass(frozen=True)
class Aggregate:
    """The aggregate of stored results as both the asset and ``trading-runtime aggregate`` show
    it: the table, its TOTAL row, and the code inputs on which the parts disagree."""

    table: pa.Table
    total: dict[str, Any]
    mixed: list[str]

    @property
    def markdown(self) -> str:
        return markdown_table(self.table)


def aggregate(results: Mapping[str, BacktestResult]) -> Aggregate:
    """``aggregate_results`` with its TOTAL row and ``mixed_provenance``."""
    table = aggregate_results(results)
    total = table.slice(table.num_rows - 1).to_pylist()[0]
    return Aggregate(table, total, mixed_provenance(table))


def mixed_provenance(table: pa.Table) -> list[str]:
    """Code inputs on which an aggregate's parts disagree (config, engine, strategy, ...)."""
    total = table.slice(table.num_rows - 1).select(list(CODE_INPUTS)).to_pylist()[0]
    return [name for name in CODE_INPUTS if total[name] == "mixed"]


def aggregate_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """One row per part (sorted by partition key) plus a ``TOTAL`` row.

    Additive columns are summed; max_drawdown's total is the worst part; ratios have no total.
    A provenance column's total is its value when all parts agree, else ``mixed``.
    """
    ordered = sorted(rows, key=lambda row: str(row["partition"]))
    names = ["partition", "n_events", *METRIC_COLUMNS, *PROVENANCE_COLUMNS]
    total: dict[str, Any] = dict.fromkeys(names)
    total["partition"] = TOTAL_ROW
    for column in CODE_INPUTS:
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


def write_aggregate_chart(table: pa.Table, results: str | Path | UPath) -> tuple[bytes, UPath]:
    """Draw the aggregate's chart (``charts.aggregate_chart_png``) and store it beside the
    aggregate table, as ``<results>/aggregate_metrics.png``; its bytes and where it is."""
    png = aggregate_chart_png(table)
    destination = as_upath(results) / AGGREGATE_CHART_FILE
    write_file(png, destination)
    return png, destination
