"""A part's chart drawn straight into pixels with Pillow: the chart every backtest draws.

matplotlib took 75-100 ms a chart (most of it laying out and rendering the tick labels' glyphs),
more than the engine's backtest of a 100k-event part; this draws the same picture (two panels
sharing the time axis, grid, zero line, ticks, labels, title) in about 20 ms. Curves are drawn at
four times the size and reduced, so their edges are anti-aliased as matplotlib's are. Text uses
matplotlib's own DejaVu Sans, laid out by FreeType without raqm (the layout engine is fixed, so a
machine with or without raqm gives the same pixels).

The same inputs give the same bytes for the same Pillow (which bundles its FreeType).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "Panel",
    "draw_panels",
    "ink_palette_bytes",
    "nice_ticks",
    "palette_bytes",
    "tick_labels",
]

_WHITE, _BLACK, _GRID = (255, 255, 255), (0, 0, 0), (217, 217, 217)
_ZERO = (97, 97, 97)  # the zero line: the muted ink of the charts
_SCALE = 4  # curves are drawn this many times larger, then reduced: anti-aliased edges
_TICK_PX, _PAD_PX = 4, 3  # tick mark length; gap between a tick and its label
_LINE_PX = 1.1  # a curve's width: 1 pt at 80 dpi, as matplotlib draws it
# 10 pt tick labels and axis labels, 12 pt title, at the charts' 80 dpi (as matplotlib's).
_LABEL_PX, _TITLE_PX = 11, 13
_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)  # matplotlib's MaxNLocator steps
_MARGIN = 0.05  # of the data's range on each side (matplotlib's axes.xmargin/ymargin)
_MINUS = "\u2212"  # matplotlib writes negative tick labels with a true minus


def palette_bytes(image: Image.Image, colours: int) -> bytes:
    """An RGB(A) picture as a ``colours``-colour palette PNG with no text chunks: about a quarter
    of an RGBA PNG, same look (a few colours and their anti-aliased edges)."""
    palette = image.convert("RGB").quantize(
        colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )
    return _png(palette)


def ink_palette_bytes(image: Image.Image, inks: Sequence[tuple[int, int, int]]) -> bytes:
    """``draw_panels``' picture as a palette PNG of white, the grid, black and ``inks``, each
    blended into white at a few strengths (anti-aliased edges and text): the same palette for
    every chart, and mapping to a known palette costs a sixth of finding one."""
    colours = [_WHITE, _GRID, *_blends(_BLACK), *(c for ink in inks for c in _blends(ink))]
    if len(colours) > 256:
        raise ValueError(f"{len(inks)} inks need {len(colours)} colours; a palette holds 256")
    palette = Image.new("P", (1, 1))
    palette.putpalette([channel for colour in colours for channel in colour])
    return _png(image.quantize(palette=palette, dither=Image.Dither.NONE))


def _blends(ink: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    return [
        tuple(round(w + (c - w) * strength) for c, w in zip(ink, _WHITE, strict=True))  # type: ignore[misc]
        for strength in (1.0, 0.7, 0.45, 0.2)
    ]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    spec = importlib.util.find_spec("matplotlib")  # its font file, without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("charts need matplotlib's DejaVu Sans font; is matplotlib installed?")
    path = Path(spec.submodule_search_locations[0]) / "mpl-data/fonts/ttf/DejaVuSans.ttf"
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


def nice_ticks(low: float, high: float, max_bins: int) -> tuple[float, float, np.ndarray, float]:
    """(view low, view high, ticks, step) for data from ``low`` to ``high``: the view adds 5 %
    of the range on each side; the ticks are the multiples of the smallest step of 1, 2, 2.5 or
    5 times a power of ten that leaves at most ``max_bins`` intervals over the view."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0  # no data: matplotlib's empty axes
    if high - low <= 1e-12 * max(abs(low), abs(high), 1e-300):
        half = max(abs(low) * 0.05, 0.05) if low else 0.05
        low, high = low - half, high + half
    pad = (high - low) * _MARGIN
    low, high = low - pad, high + pad
    raw = (high - low) / max_bins
    scale = 10.0 ** math.floor(math.log10(raw))
    for mantissa in _STEPS:
        step = mantissa * scale
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if last - first <= max_bins:
            break
    ticks = np.arange(first, last + 1) * step
    return low, high, ticks, step


def tick_labels(ticks: np.ndarray, step: float) -> list[str]:
    """Labels with as many decimals as the step needs, the same for every tick of an axis."""
    if len(ticks) == 0:
        return []
    largest = float(np.max(np.abs(ticks)))
    # The fewest decimals that write every tick exactly (25, 50 and 75 need none; 0.25 two).
    decimals = next(
        (d for d in range(7) if np.all(np.abs(np.round(ticks, d) - ticks) <= step * 1e-6)), 7
    )
    if largest >= 1e6 or decimals > 6:
        texts = [f"{value:.3g}" for value in ticks]
    else:
        texts = [f"{value:.{decimals}f}" for value in ticks]
    return [
        _MINUS + t[1:] if t.startswith("-") and t.strip("-0.") else t.lstrip("-") for t in texts
    ]


@dataclass(frozen=True)
class Panel:
    """One panel: its curve (NaN rows are gaps), its colour, its y label, its share of the
    height. ``steps`` draws the curve as steps (a value holds until the next row)."""

    x: np.ndarray
    y: np.ndarray
    colour: tuple[int, int, int]
    label: str
    weight: float
    steps: bool = False


class _Axes:
    """A panel's box in pixels and its data-to-pixel mapping."""

    def __init__(
        self,
        box: tuple[int, int, int, int],
        x_view: tuple[float, float],
        y_view: tuple[float, float],
    ):
        self.box = box
        self.x_view, self.y_view = x_view, y_view

    def px(self, x: np.ndarray) -> np.ndarray:
        left, _, right, _ = self.box
        return left + (x - self.x_view[0]) / (self.x_view[1] - self.x_view[0]) * (right - left)

    def py(self, y: np.ndarray) -> np.ndarray:
        _, top, _, bottom = self.box
        return bottom - (y - self.y_view[0]) / (self.y_view[1] - self.y_view[0]) * (bottom - top)


def _step_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A "post" step curve as a polyline: each value held until the next row's time."""
    if len(x) < 2:
        return x, y
    return np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]


def _polyline(draw: ImageDraw.ImageDraw, xs: np.ndarray, ys: np.ndarray, width: int) -> None:
    """The runs of finite points of (xs, ys) as lines; a NaN ends a run."""
    finite = np.isfinite(xs) & np.isfinite(ys)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= 2:
            points = np.column_stack([xs[start:end], ys[start:end]]).ravel().tolist()
            draw.line(points, fill=255, width=width)


def _curve(
    image: Image.Image, axes: _Axes, x: np.ndarray, y: np.ndarray, colour: tuple[int, int, int]
) -> None:
    """The curve anti-aliased and clipped to the panel: drawn on a mask twice the panel's size."""
    left, top, right, bottom = axes.box
    mask = Image.new("L", ((right - left) * _SCALE, (bottom - top) * _SCALE), 0)
    xs = (axes.px(x) - left) * _SCALE
    ys = (axes.py(y) - top) * _SCALE
    _polyline(ImageDraw.Draw(mask), xs, ys, round(_SCALE * _LINE_PX))
    image.paste(colour, axes.box, mask.reduce(_SCALE))


def _text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, anchor: str
) -> None:
    draw.text(xy, text, fill=_BLACK, font=_font(size), anchor=anchor)


def _vertical_text(image: Image.Image, text: str, centre: tuple[float, float]) -> None:
    """``text`` read bottom to top, centred on ``centre`` (a y axis' label)."""
    font = _font(_LABEL_PX)
    left, top, right, bottom = (round(edge) for edge in font.getbbox(text))
    strip = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(strip).text((1 - left, 1 - top), text, fill=255, font=font)
    strip = strip.transpose(Image.Transpose.ROTATE_90)
    x, y = round(centre[0] - strip.width / 2), round(centre[1] - strip.height / 2)
    image.paste(_BLACK, (x, y, x + strip.width, y + strip.height), strip)


def _finite_range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (math.nan, math.nan)


def draw_panels(
    size: tuple[int, int],
    margins: tuple[float, float, float, float],
    gap: float,
    panels: Sequence[Panel],
    title: str,
    x_label: str,
) -> Image.Image:
    """Panels stacked top to bottom over one x axis (the range of all their x), as an RGB
    picture of ``size`` pixels. ``margins`` (left, right, top, bottom) are fractions of the
    picture, as matplotlib's ``subplots_adjust``; ``gap`` between panels is a fraction of their
    mean height (``hspace``)."""
    width, height = size
    left, right = round(margins[0] * width), round(margins[1] * width)
    top, bottom = round((1 - margins[2]) * height), round((1 - margins[3]) * height)
    total = sum(panel.weight for panel in panels)
    mean_gap = gap * total / len(panels)  # in units of weight
    unit = (bottom - top) / (total + mean_gap * (len(panels) - 1))
    image = Image.new("RGB", size, _WHITE)
    draw = ImageDraw.Draw(image)
    x_low, x_high, x_ticks, x_step = nice_ticks(
        *_finite_range(np.concatenate([panel.x for panel in panels])),
        max(3, min(9, (right - left) // 60)),
    )
    x_axis = _XAxis((x_low, x_high), x_ticks[(x_ticks >= x_low) & (x_ticks <= x_high)], x_step)
    y_top = float(top)
    for index, panel in enumerate(panels):
        y_bottom = y_top + panel.weight * unit
        box = (left, round(y_top), right, round(y_bottom))
        _draw_panel(image, draw, box, x_axis, panel, x_label if index == len(panels) - 1 else None)
        y_top = y_bottom + mean_gap * unit
    _text(draw, ((left + right) / 2, top - 6), title, _TITLE_PX, "mb")
    return image


@dataclass(frozen=True)
class _XAxis:
    view: tuple[float, float]
    ticks: np.ndarray
    step: float


def _draw_panel(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    x_axis: _XAxis,
    panel: Panel,
    x_label: str | None,
) -> None:
    """One panel in ``box``: grid, zero line, curve, frame, ticks and labels; the x axis' labels
    under the bottom panel (the one given ``x_label``)."""
    y_low, y_high, y_ticks, y_step = nice_ticks(
        *_finite_range(panel.y), max(3, min(9, (box[3] - box[1]) // 30))
    )
    y_ticks = y_ticks[(y_ticks >= y_low) & (y_ticks <= y_high)]
    axes = _Axes(box, x_axis.view, (y_low, y_high))
    x_pixels, y_pixels = np.round(axes.px(x_axis.ticks)), np.round(axes.py(y_ticks))
    for gx in x_pixels:
        draw.line([(gx, box[1]), (gx, box[3])], fill=_GRID, width=1)
    for gy in y_pixels:
        draw.line([(box[0], gy), (box[2], gy)], fill=_GRID, width=1)
    if y_low < 0.0 < y_high:
        zero = round(float(axes.py(np.array(0.0))))
        draw.line([(box[0], zero), (box[2], zero)], fill=_ZERO, width=1)
    xs, ys = _step_points(panel.x, panel.y) if panel.steps else (panel.x, panel.y)
    _curve(image, axes, xs, ys, panel.colour)
    draw.rectangle(box, outline=_BLACK, width=1)
    widest = 0
    for gy, text in zip(y_pixels, tick_labels(y_ticks, y_step), strict=True):
        draw.line([(box[0] - _TICK_PX, gy), (box[0], gy)], fill=_BLACK, width=1)
        _text(draw, (box[0] - _TICK_PX - _PAD_PX, gy), text, _LABEL_PX, "rm")
        widest = max(widest, round(draw.textlength(text, font=_font(_LABEL_PX))))
    label_x = box[0] - _TICK_PX - _PAD_PX - widest - _PAD_PX - _LABEL_PX // 2 - 2
    _vertical_text(image, panel.label, (label_x, (box[1] + box[3]) / 2))
    for gx, text in zip(x_pixels, tick_labels(x_axis.ticks, x_axis.step), strict=True):
        draw.line([(gx, box[3]), (gx, box[3] + _TICK_PX)], fill=_BLACK, width=1)
        if x_label is not None:
            _text(draw, (gx, box[3] + _TICK_PX + _PAD_PX), text, _LABEL_PX, "mt")
    if x_label is not None:
        label_y = box[3] + _TICK_PX + _PAD_PX + _LABEL_PX + 4
        _text(draw, ((box[0] + box[2]) / 2, label_y), x_label, _LABEL_PX, "mt")
