"""The part chart's own drawing (``results.raster``): ticks, labels, and that the pixels show the
curve where it is and nothing where it is not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFont

from trading_runtime.results import raster

BLUE, GREY = (21, 101, 192), (97, 97, 97)
SIZE, MARGINS = (640, 400), (0.1, 0.98, 0.93, 0.1)


@pytest.mark.parametrize(
    ("low", "high", "bins", "step", "first", "last"),
    [
        (0.0, 74.9, 9, 10.0, 0.0, 70.0),  # matplotlib's x axis of a 75 s part
        (-0.8, 4.1, 7, 1.0, -1.0, 4.0),
        (0.0, 199.9, 9, 25.0, 0.0, 200.0),  # a step of 2.5 x 10
        (-0.11, 0.12, 3, 0.1, -0.1, 0.1),
        (3.0, 3.0, 5, 0.1, 2.9, 3.1),  # no range: widened by 5 % of the value
    ],
)
def test_ticks_are_nice_steps_inside_the_view(
    low: float, high: float, bins: int, step: float, first: float, last: float
) -> None:
    view_low, view_high, ticks, found = raster.nice_ticks(low, high, bins)
    assert view_low < min(low, high) and view_high > max(low, high)  # 5 % margins
    assert found == pytest.approx(step)
    inside = ticks[(ticks >= view_low) & (ticks <= view_high)]
    assert inside[0] == pytest.approx(first) and inside[-1] == pytest.approx(last)
    assert len(inside) - 1 <= bins


def test_tick_labels_use_the_decimals_every_tick_needs_and_a_true_minus() -> None:
    assert raster.tick_labels(np.array([0.0, 25.0, 50.0]), 25.0) == ["0", "25", "50"]
    assert raster.tick_labels(np.array([-0.25, 0.0, 0.25]), 0.25) == ["\u22120.25", "0.00", "0.25"]
    assert raster.tick_labels(np.array([-1e-17, 0.5]), 0.5) == ["0.0", "0.5"]  # no "-0.0"
    assert raster.tick_labels(np.array([0.0, 5e7, 1e8]), 5e7) == ["0", "5e+07", "1e+08"]


def test_text_is_laid_out_without_raqm() -> None:
    # raqm's presence varies by machine; the basic layout gives the same pixels everywhere.
    assert raster._font(11).layout_engine == ImageFont.Layout.BASIC


def _pixels(panels: list[raster.Panel]) -> np.ndarray:
    image = raster.draw_panels(SIZE, MARGINS, 0.08, panels, "title", "seconds")
    png = raster.ink_palette_bytes(image, [BLUE, GREY])
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "P" and decoded.size == SIZE
    return np.asarray(decoded.convert("RGB"))


def test_the_curve_is_drawn_where_its_rows_are_and_a_nan_is_a_gap() -> None:
    x = np.arange(100, dtype=np.float64)
    y = np.where(x < 50, np.nan, x)  # no value in the first half
    pixels = _pixels([raster.Panel(x, y, BLUE, "PnL", 2.0)]).astype(int)
    blue = pixels[..., 2] - pixels[..., 0] > 60  # the curve and its anti-aliased edges
    columns = np.flatnonzero(blue.any(axis=0))
    middle = 64 + (627 - 64) / 2  # x = 49.5 is the middle of the plot
    assert columns.size and columns.min() >= middle - 6 and columns.max() > 590
    rows = np.flatnonzero(blue.any(axis=1))
    # Rising to the right: the rightmost blue pixel is near the top of the panel.
    assert rows.min() < 60 and np.flatnonzero(blue[rows.min()]).min() > 560


def test_steps_hold_a_value_until_the_next_row() -> None:
    x, y = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 0.0])
    pixels = _pixels([raster.Panel(x, y, GREY, "position", 1.0, steps=True)])
    inside = pixels[32:356, 68:623]  # the plot without its frame and tick labels
    dark = inside.max(axis=2) < 180  # the curve and the zero line, not the grid
    counts = dark.sum(axis=1)
    zero = int(np.argmax(counts))  # the zero line: the whole width
    above = counts[: zero - 10]
    held = int(np.argmax(above))  # y = 1, held from x = 1 to x = 2: half the width
    assert counts[zero] > 0.95 * inside.shape[1]
    assert 0.4 * inside.shape[1] < counts[held] < 0.6 * inside.shape[1]
    start = 68 + int(np.flatnonzero(dark[held]).min())
    assert abs(start - (64 + 563 / 2)) < 15


def test_a_palette_with_too_many_inks_is_refused() -> None:
    image = Image.new("RGB", (4, 4), (255, 255, 255))
    with pytest.raises(ValueError, match="256"):
        raster.ink_palette_bytes(image, [(i, i, i) for i in range(70)])
