"""The sweep's pictures: the same input gives the same bytes, and they decode at the chart size."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from trading_runtime.results.charts import CHART_DPI, CHART_SIZE_IN
from trading_runtime.sweeps.charts import heatmap_png, parameters_png, walk_forward_png
from trading_runtime.sweeps.walk_forward import walk_forward

SIZE = (int(CHART_SIZE_IN[0] * CHART_DPI), int(CHART_SIZE_IN[1] * CHART_DPI))


def matrix(variants: int, parts: int) -> np.ndarray:
    values = np.random.default_rng(5).normal(size=(variants, parts))
    if parts > 2:
        values[1 % variants, 2] = np.nan
    return values


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.mode == "P" and image.size == SIZE
    assert not image.text  # no software version, no date
    return image


def test_heatmap_is_byte_stable() -> None:
    keys = [f"q={i}-0123456789ab" for i in range(6)]
    parts = [f"p{i:04d}" for i in range(8)]
    first = heatmap_png(keys, parts, matrix(6, 8))
    heatmap_png(keys[:2], parts[:3], matrix(2, 3))  # another picture in between
    assert heatmap_png(keys, parts, matrix(6, 8)) == first
    decoded(first)
    many = heatmap_png([str(i) for i in range(50)], [str(i) for i in range(500)], matrix(50, 500))
    decoded(many)
    decoded(heatmap_png(["a"], ["p"], [[np.nan]]))


def test_parameters_chart_is_byte_stable() -> None:
    overrides = [
        {"strategy.order_qty": q, "strategy.mode": m, "strategy.offset": o}
        for q in (0.1, 0.2)
        for m in ("a", "b")
        for o in (0, 1, 2)
    ]
    metric = np.linspace(-1.0, 1.0, len(overrides))
    metric[3] = np.nan
    first = parameters_png(overrides, metric)
    assert parameters_png(overrides, metric) == first
    decoded(first)
    decoded(parameters_png([{}], [0.5]))  # no sweep: one variant, no parameter


def test_walk_forward_chart_is_byte_stable() -> None:
    result = walk_forward(matrix(6, 12), window=3)
    parts = [f"p{i:04d}" for i in range(12)]
    first = walk_forward_png(result, parts)
    assert walk_forward_png(result, parts) == first
    decoded(first)
    decoded(walk_forward_png(walk_forward(matrix(3, 2), window=3)))  # no part after the window
