"""Charts of results as small PNGs: a part's PnL and position, and the aggregate's PnL and
maximum drawdown per part.

A part's chart, drawn by every backtest, is drawn straight into pixels (``raster``: about 20 ms
where matplotlib took 75-100); the aggregate's, drawn once per aggregate, with
matplotlib's Agg canvas directly (no pyplot: no global figure state, no display), imported only
when one is drawn. The same input gives the same bytes: the pixels are written by Pillow as a
palette PNG with no text chunks (no software version, no date). A part's chart is drawn from its
curve (``metrics.curve_from_record``, what ``curve.parquet`` stores), so drawing it again from a
stored result (``BacktestResult.read_curve``) gives the same bytes. Charts are a view of a
result: their bytes never enter its content hash."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from PIL import ImageColor

from trading_runtime.results import raster

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AGGREGATE_COLUMNS",
    "AGGREGATE_LABELLED_PARTS",
    "CHART_COLOURS",
    "CHART_DPI",
    "CHART_SIZE_IN",
    "MAX_CURVE_POINTS",
    "aggregate_chart_png",
    "markdown_image",
    "palette_png",
    "part_chart_png",
]

# 640 x 400 px: readable in the UI's metadata dialog. As a 16-colour palette PNG a chart is about
# 10 KB, small enough to sit in every materialization event (base64 in the event log).
CHART_SIZE_IN = (8.0, 5.0)
CHART_DPI = 80
CHART_COLOURS = 16
# A curve with more rows than this is drawn from each bucket's extremes (the rows holding its
# minimum and maximum): 600 buckets, about one per pixel column of the plot, so the picture keeps
# every spike and a million-row curve draws as fast as a short one.
MAX_CURVE_POINTS = 1200
# Bars of more parts than this carry no name each (the names would overlap).
AGGREGATE_LABELLED_PARTS = 30
# More parts than this are drawn as this many columns, each the extremes of its parts: about one
# per pixel column of the plot.
AGGREGATE_COLUMNS = 600
_UP, _DOWN, _LINE, _MUTED = "#2e7d32", "#c62828", "#1565c0", "#616161"
# Distinct enough from white to keep a colour of its own in the palette.
_GRID = "#d9d9d9"
_MARGINS = {"left": 0.1, "right": 0.98, "top": 0.93, "hspace": 0.08}
_PART_BOTTOM = 0.1


def _figure(rows: int, bottom: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=CHART_SIZE_IN, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    # Fixed margins: a layout engine measures every label before drawing, which doubles the time.
    figure.subplots_adjust(bottom=bottom, **_MARGINS)
    axes = figure.subplots(rows, 1, sharex=True, height_ratios=[2] + [1] * (rows - 1))
    for each in axes:
        each.grid(True, color=_GRID, linewidth=0.8)
        each.set_axisbelow(True)
    return figure, list(axes)


def palette_png(figure: Figure) -> bytes:
    """The figure's pixels as a palette PNG: about a quarter of Agg's RGBA PNG, same look (the
    charts use a few colours and their anti-aliased edges)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):  # every figure here is made by ``_figure``
        raise TypeError(f"chart figure on {type(canvas).__name__}, expected Agg")
    canvas.draw()
    width, height = canvas.get_width_height()
    rgb = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    return raster.palette_bytes(rgb, CHART_COLOURS)


def _envelope(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of (x, y): each bucket of consecutive rows by the rows holding
    its minimum and maximum, in order, so that no spike disappears (NaN rows are gaps)."""
    if len(x) <= max_points:
        return x, y
    size = -(-len(y) // (max_points // 2))  # rows per bucket
    buckets = -(-len(y) // size)
    padded = np.full(buckets * size, np.nan)
    padded[: len(y)] = y
    missing = np.isnan(padded)
    low = np.where(missing, np.inf, padded).reshape(buckets, size).argmin(axis=1)
    high = np.where(missing, -np.inf, padded).reshape(buckets, size).argmax(axis=1)
    starts = np.arange(buckets) * size
    picks = np.unique(np.concatenate([starts + low, starts + high]))
    picks = picks[picks < len(y)]
    return x[picks], y[picks]


def part_chart_png(curve: pa.Table, part: str) -> bytes:
    """A part's chart: PnL (equity since the first priced row, as the ``pnl`` metric) above the
    position, over seconds since the part's first record. ``curve`` has
    ``metrics.CURVE_SCHEMA``'s columns (``curve.parquet``)."""
    timestamps = curve.column("timestamp").to_numpy()
    price = curve.column("price").to_numpy(zero_copy_only=False)
    equity = curve.column("equity").to_numpy(zero_copy_only=False)
    position = curve.column("position").to_numpy(zero_copy_only=False).astype(np.float64)
    seconds = (timestamps - (timestamps[0] if len(timestamps) else 0)) / 1e9
    # Rows before the book has both sides carry no price and no equity yet (as in the metrics).
    priced = np.flatnonzero(np.isfinite(price))
    pnl = np.full(len(equity), np.nan)
    if priced.size:
        pnl[priced[0] :] = equity[priced[0] :] - equity[priced[0]]
    final = f"{pnl[priced[-1]]:.6g}" if priced.size else "n/a"
    span = f"{seconds[-1]:.6g}" if len(seconds) else "0"
    title = f"{part}: PnL {final} over {span} s"
    panels = (
        raster.Panel(*_envelope(seconds, pnl, MAX_CURVE_POINTS), _rgb(_LINE), "PnL", 2.0),
        raster.Panel(
            *_envelope(seconds, position, MAX_CURVE_POINTS), _rgb(_MUTED), "position", 1.0, True
        ),
    )
    size = (round(CHART_SIZE_IN[0] * CHART_DPI), round(CHART_SIZE_IN[1] * CHART_DPI))
    margins = (_MARGINS["left"], _MARGINS["right"], _MARGINS["top"], _PART_BOTTOM)
    x_label = "seconds since the part's first record"
    image = raster.draw_panels(size, margins, _MARGINS["hspace"], panels, title, x_label)
    return raster.ink_palette_bytes(image, [_rgb(_LINE), _rgb(_MUTED)])


def _rgb(colour: str) -> tuple[int, int, int]:
    red, green, blue = ImageColor.getrgb(colour)[:3]
    return red, green, blue


def _column_extremes(values: np.ndarray, size: int, pick: np.ufunc) -> np.ndarray:
    """``pick`` (np.maximum or np.minimum) over each run of ``size`` consecutive values."""
    columns = -(-len(values) // size)
    padded = np.zeros(columns * size)
    padded[: len(values)] = values
    return np.asarray(pick.reduce(padded.reshape(columns, size), axis=1))


def aggregate_chart_png(table: pa.Table) -> bytes:
    """The aggregate's chart: PnL per part (green gain, red loss) above each part's maximum
    drawdown, parts in the table's order (by name). ``table`` has ``aggregate.aggregate_table``'s
    columns; its ``TOTAL`` row gives the title."""
    rows = table.select(["partition", "pnl", "max_drawdown"]).to_pylist()
    total = next((row for row in rows if row["partition"] == "TOTAL"), None)
    parts = [row for row in rows if row["partition"] != "TOTAL"]

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in parts], dtype=np.float64)

    pnl, drawdown = np.nan_to_num(column("pnl")), np.nan_to_num(column("max_drawdown"))
    labelled = len(parts) <= AGGREGATE_LABELLED_PARTS
    figure, (pnl_axes, drawdown_axes) = _figure(2, bottom=0.17 if labelled else 0.1)
    total_pnl = total["pnl"] if total is not None else None
    total_text = f"{total_pnl:.6g}" if total_pnl is not None else "n/a"
    pnl_axes.set_title(f"aggregate_metrics: {len(parts)} part(s), total PnL {total_text}")
    pnl_axes.set_ylabel("PnL")
    drawdown_axes.set_ylabel("max drawdown")
    if labelled:
        index = np.arange(len(parts))
        pnl_axes.bar(index, pnl, width=0.8, color=np.where(pnl < 0, _DOWN, _UP))
        drawdown_axes.bar(index, drawdown, width=0.8, color=_DOWN)
        names = [str(row["partition"]) for row in parts]
        drawdown_axes.set_xticks(index, names, rotation=30, ha="right", fontsize="small")
    else:
        # One filled outline per colour over at most AGGREGATE_COLUMNS columns of consecutive
        # parts, each column their extremes: no patch per part, as fast for 10,000 parts.
        size = -(-len(parts) // AGGREGATE_COLUMNS)
        edges = np.append(np.arange(0, len(parts), size), len(parts)) - 0.5
        for values, pick, colour, axes in (
            (np.maximum(pnl, 0.0), np.maximum, _UP, pnl_axes),
            (np.minimum(pnl, 0.0), np.minimum, _DOWN, pnl_axes),
            (drawdown, np.maximum, _DOWN, drawdown_axes),
        ):
            axes.stairs(_column_extremes(values, size, pick), edges, fill=True, color=colour)
        grouped = f"; a column holds the extremes of {size}" if size > 1 else ""
        drawdown_axes.set_xlabel(f"{len(parts)} parts, in name order{grouped}")
    pnl_axes.axhline(0.0, color=_MUTED, linewidth=0.6)
    return palette_png(figure)


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown that shows a PNG inline as a ``data:`` URI: how Dagster's UI shows an image in
    metadata (``MetadataValue.md``; its markdown renderer keeps base64 images)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
