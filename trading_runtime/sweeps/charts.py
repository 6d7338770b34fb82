"""Pictures of a sweep: the variant x part PnL heatmap, each swept parameter against the
leaderboard's metric, and walk-forward equity against the in-sample best's.

Drawn as ``results.charts`` draws (its size, palette PNG and colours): matplotlib's Agg canvas
directly, no pyplot, imported only when a chart is drawn; the pixels written by Pillow as a
16-colour palette PNG with no text chunks, so the same input gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from trading_runtime.results.charts import CHART_DPI, CHART_SIZE_IN, palette_png
from trading_runtime.sweeps.walk_forward import WalkForward

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "LABELLED_ROWS",
    "MAX_PARAMETER_PANELS",
    "heatmap_png",
    "parameters_png",
    "walk_forward_png",
]

# More variants (rows) or parts (columns) than this carry no name each.
LABELLED_ROWS = 30
# Swept parameters drawn, each in its own panel (the rest are named in the title).
MAX_PARAMETER_PANELS = 6
_LINE, _MUTED, _ACCENT, _GRID = "#1565c0", "#616161", "#ef6c00", "#d9d9d9"


def _figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=CHART_SIZE_IN, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    return figure


def _grid(axes: Axes) -> None:
    axes.grid(True, color=_GRID, linewidth=0.8)
    axes.set_axisbelow(True)


def _short(key: str, width: int = 34) -> str:
    """A variant key as a row label: its readable part (the hash left off), cut to ``width``."""
    name = key.rsplit("-", 1)[0] if "-" in key else key
    return name if len(name) <= width else name[: width - 1] + "…"


def heatmap_png(
    variants: Sequence[str], parts: Sequence[str], pnl: npt.ArrayLike, title: str = ""
) -> bytes:
    """PnL per variant (rows, in the given order, labelled by their keys without the hash) and
    part (columns, in time order): green gain, red loss, the scale symmetric around 0; a missing or
    failed cell grey."""
    from matplotlib import colormaps

    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    figure = _figure()
    labelled_rows = len(variants) <= LABELLED_ROWS
    figure.subplots_adjust(left=0.32 if labelled_rows else 0.1, right=0.97, top=0.92, bottom=0.22)
    axes = figure.add_subplot()
    finite = matrix[np.isfinite(matrix)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    # Eleven levels: what the 16-colour palette keeps exactly (a continuous map would band).
    colours = colormaps["RdYlGn"].resampled(11).with_extremes(bad="#9e9e9e")
    image = axes.imshow(
        np.ma.masked_invalid(matrix),
        aspect="auto",
        interpolation="nearest",
        cmap=colours,
        vmin=-limit,
        vmax=limit,
    )
    figure.colorbar(image, ax=axes, fraction=0.05, pad=0.02, label="PnL")
    if labelled_rows:
        names = [_short(name) for name in variants]
        axes.set_yticks(np.arange(len(variants)), names, fontsize="x-small")
    else:
        axes.set_ylabel(f"{len(variants)} variants")
    if len(parts) <= LABELLED_ROWS:
        axes.set_xticks(
            np.arange(len(parts)), list(parts), rotation=30, ha="right", fontsize="small"
        )
    else:
        axes.set_xlabel(f"{len(parts)} parts, in time order")
    axes.set_title(title or f"PnL per variant and part ({len(variants)} x {len(parts)})")
    return palette_png(figure)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def parameters_png(
    overrides: Sequence[Mapping[str, Any]], metric: npt.ArrayLike, metric_name: str = "mean PnL"
) -> bytes:
    """One panel per swept parameter (dotted key): each variant's value of it (x) against its
    leaderboard metric (y). Numbers on a numeric axis; other values as categories in sorted
    text order. Variants without the key or a metric are left out of its panel."""
    scores = np.asarray(metric, dtype=np.float64)
    keys = sorted({key for point in overrides for key in point})
    shown = keys[:MAX_PARAMETER_PANELS]
    figure = _figure()
    figure.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.12, hspace=0.5, wspace=0.3)
    columns = min(3, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    hidden = f" (+{len(keys) - len(shown)} not drawn)" if len(keys) > len(shown) else ""
    figure.suptitle(f"{metric_name} by swept parameter{hidden}")
    if not shown:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no swept parameter", ha="center", va="center")
        axes.set_axis_off()
        return palette_png(figure)
    for index, key in enumerate(shown):
        axes = figure.add_subplot(rows, columns, index + 1)
        _grid(axes)
        pairs = [
            (point[key], float(scores[i]))
            for i, point in enumerate(overrides)
            if key in point and math.isfinite(scores[i])
        ]
        values = [value for value, _ in pairs]
        if _numeric(values):
            x: list[float] = [float(v) for v in values]
        else:
            names = sorted({str(v) for v in values})
            x = [float(names.index(str(v))) for v in values]
            axes.set_xticks(range(len(names)), names, fontsize="x-small", rotation=30)
        axes.scatter(x, [score for _, score in pairs], s=14, color=_LINE)
        axes.axhline(0.0, color=_MUTED, linewidth=0.6)
        axes.set_title(key.rsplit(".", 1)[-1], fontsize="small")
        axes.tick_params(labelsize="x-small")
    return palette_png(figure)


def walk_forward_png(result: WalkForward, parts: Sequence[str] = ()) -> bytes:
    """Cumulative PnL of the walk-forward picks against the in-sample best variant's, over the
    parts after the first ``window`` (missing parts add 0)."""
    figure = _figure()
    figure.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.2)
    axes = figure.add_subplot()
    _grid(axes)
    x = np.arange(len(result.parts))
    for values, colour, label in (
        (result.equity, _LINE, "walk-forward picks"),
        (result.in_sample_equity, _ACCENT, "in-sample best"),
    ):
        axes.plot(x, values, color=colour, linewidth=1.4, marker="o", markersize=3, label=label)
    axes.axhline(0.0, color=_MUTED, linewidth=0.6)
    axes.legend(loc="upper left", fontsize="small")
    axes.set_ylabel("cumulative PnL")
    names = [parts[p] for p in result.parts] if len(parts) > max(result.parts, default=-1) else []
    if names and len(names) <= LABELLED_ROWS:
        axes.set_xticks(x, names, rotation=30, ha="right", fontsize="small")
    else:
        axes.set_xlabel(f"{len(result.parts)} parts after the first {result.window}")
    axes.set_title(
        f"walk-forward (window {result.window}): {result.total:.6g} out of sample;"
        f" in-sample best {result.in_sample_total:.6g}"
    )
    return palette_png(figure)
