"""Numbers are finite or the part fails: a result whose metrics or money columns overflowed
(an order size of 1e300 gives a PnL of 7.75e+300 and a trading value of infinity) is an engine
failure, named in one line, never a stored result."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from trading_runtime.adapters.base import EngineError

__all__ = ["check_finite_result"]

# A record row before the book has both sides has no price: NaN there is expected, infinity not.
_NAN_ALLOWED = frozenset({"price"})


def _first_bad(values: np.ndarray, allow_nan: bool) -> int | None:
    bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
    return int(np.argmax(bad)) if bad.any() else None


def check_finite_result(
    part: str,
    record: np.ndarray,
    metrics: Mapping[str, object],
    derived: Mapping[str, np.ndarray] | None = None,
) -> None:
    """``EngineError`` naming the first metric, or the first column and row of ``record`` (or
    of a ``derived`` column, e.g. the curve's equity, NaN where the price is), that is not a
    finite number. Undefined metrics (None) are fine."""
    for name, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise EngineError(
                f"part {part}: metric {name} = {value} is not finite; the backtest overflowed"
                " (check order sizes, e.g. strategy.order_qty, against the instrument)"
            )
    columns = [
        (name, record[name], name in _NAN_ALLOWED)
        for name in record.dtype.names or ()
        if record.dtype[name].kind == "f"
    ]
    columns += [(name, values, True) for name, values in (derived or {}).items()]
    for name, values, allow_nan in columns:
        row = _first_bad(values, allow_nan)
        if row is not None:
            raise EngineError(
                f"part {part}: column {name} = {values[row]} at row {row} is not finite; the"
                " backtest overflowed (check order sizes, e.g. strategy.order_qty, against the"
                " instrument)"
            )
