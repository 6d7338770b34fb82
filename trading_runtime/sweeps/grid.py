"""A grid sweep expanded into points: each key's values (a list, or a ``{start, stop, step}``
range with the stop included), then their cartesian product.

Order: keys in sorted order, the last key varying fastest; a list's values in the order written, a
range's ascending. The same file gives the same points in the same order.

Ranges are computed without float accumulation: value ``i`` is ``start + i * step`` in decimal
arithmetic on the numbers as written (their shortest ``repr``), then turned into a float, so
``{"start": 0, "stop": 0.3, "step": 0.1}`` gives ``0.0, 0.1, 0.2, 0.3`` exactly as written, with
the stop included (not ``0.30000000000000004``, and not lost to rounding). Rounding to the step's
(or start's) decimals is implied: a decimal sum has no more decimals than its terms. A range whose
start, stop and step are all integers gives integers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from trading_runtime.sweeps.errors import MAX_SWEEP_POINTS, SweepError

__all__ = ["RANGE_KEYS", "expand_grid", "grid_size", "range_values"]

RANGE_KEYS = ("start", "stop", "step")
_GRID_EXAMPLE = (
    '{"strategy.quote_offset_ticks": {"start": 0, "stop": 2, "step": 1},'
    ' "strategy.order_qty": [0.1, 0.2]}'
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _range_bounds(where: str, spec: Mapping[str, Any]) -> tuple[Decimal, Decimal, Decimal, bool]:
    """A range's start, stop and step as decimals (validated), and whether all are integers."""
    keys = set(spec)
    if keys != set(RANGE_KEYS):
        missing = [k for k in RANGE_KEYS if k not in keys]
        extra = sorted(keys - set(RANGE_KEYS))
        said = (f"missing {', '.join(missing)}" if missing else "") + (
            f"{'; ' if missing else ''}unknown {', '.join(extra)}" if extra else ""
        )
        raise SweepError(f"{where}: a range takes start, stop and step ({said})")
    for name in RANGE_KEYS:
        value = spec[name]
        if not _is_number(value):
            raise SweepError(f"{where}: range {name} {value!r} is not a number")
        if not math.isfinite(value):
            raise SweepError(f"{where}: range {name} {value!r} is not a finite number")
    start, stop, step = (Decimal(repr(spec[name])) for name in RANGE_KEYS)
    if step <= 0:
        raise SweepError(f"{where}: range step {spec['step']!r} must be greater than 0")
    if stop < start:
        raise SweepError(
            f"{where}: range stop {spec['stop']!r} is below start {spec['start']!r}: no values"
        )
    integers = all(isinstance(spec[name], int) for name in RANGE_KEYS)
    return start, stop, step, integers


def _range_count(start: Decimal, stop: Decimal, step: Decimal) -> int:
    return int((stop - start) // step) + 1


def range_values(where: str, spec: Mapping[str, Any]) -> list[int | float]:
    """A range's values, the stop included when a step lands on it (see the module doc)."""
    start, stop, step, integers = _range_bounds(where, spec)
    count = _range_count(start, stop, step)
    if count > MAX_SWEEP_POINTS:
        raise SweepError(f"{where}: range of {count:,} values, over {MAX_SWEEP_POINTS:,}")
    values = (start + i * step for i in range(count))
    return [int(v) for v in values] if integers else [float(v) for v in values]


def _values(where: str, value: Any) -> Sequence[Any]:
    if isinstance(value, list):
        if not value:
            raise SweepError(f"{where}: an empty list of values; give at least one")
        return value
    if isinstance(value, dict):
        return range_values(where, value)
    raise SweepError(
        f"{where}: expected a list of values or a {{start, stop, step}} range, got"
        f" {value!r} (one value: [{value!r}])"
    )


def _sizes(source: str, grid: Mapping[str, Any]) -> dict[str, int]:
    """Each key's number of values, without expanding a range (a huge one must not allocate)."""
    sizes: dict[str, int] = {}
    for key in sorted(grid):
        value, where = grid[key], f"sweep {source}: key {key}"
        if isinstance(value, dict):
            sizes[key] = _range_count(*_range_bounds(where, value)[:3])
        else:
            sizes[key] = len(_values(where, value))
    return sizes


def grid_size(source: str, grid: Mapping[str, Any]) -> int:
    """How many points the grid expands to (validating each key's values)."""
    if not grid:
        raise SweepError(f"sweep {source}: an empty grid; e.g. {_GRID_EXAMPLE}")
    return math.prod(_sizes(source, grid).values())


def expand_grid(source: str, grid: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The grid's points (override objects), in the order the module doc states. A grid over
    ``MAX_SWEEP_POINTS`` points is refused before any is made."""
    size = grid_size(source, grid)
    if size > MAX_SWEEP_POINTS:
        shown = " x ".join(f"{k} {n:,}" for k, n in _sizes(source, grid).items())
        raise SweepError(
            f"sweep {source}: the grid has {size:,} points ({shown}), over the limit of"
            f" {MAX_SWEEP_POINTS:,}; use fewer values or split it into several sweep files"
        )
    keys = sorted(grid)
    columns = [_values(f"sweep {source}: key {key}", grid[key]) for key in keys]
    for values in itertools.product(*columns):
        yield dict(zip(keys, values, strict=True))
