"""What a strategy function returns: an hftbacktest error code fails the part; an array or a
number (or a tuple of them) is stored with the result (``strategy_output.npy`` / ``.npz``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from trading_runtime.adapters.base import EngineError
from trading_runtime.adapters.hftbacktest.codes import HFTBACKTEST_ERRORS
from trading_runtime.data.npz import write_npz_deterministic

__all__ = [
    "STRATEGY_OUTPUTS_FILE",
    "STRATEGY_OUTPUT_FILE",
    "check_strategy_return",
    "save_strategy_output",
]

STRATEGY_OUTPUT_FILE = "strategy_output.npy"
STRATEGY_OUTPUTS_FILE = "strategy_output.npz"  # a tuple of arrays or numbers


def check_strategy_return(part_name: str, returned: Any) -> None:
    """An hftbacktest error code means the backtest stopped before the end of the data: fail,
    don't report a truncated result as if it were complete."""
    if isinstance(returned, bool | np.bool_) or not isinstance(returned, int | np.integer):
        return
    code = int(returned)
    if code not in HFTBACKTEST_ERRORS:
        return
    raise EngineError(
        f"part {part_name}: hftbacktest stopped the backtest with error code {code}"
        f" ({HFTBACKTEST_ERRORS[code]}) before the end of the data"
    )


def _storable(value: Any) -> np.ndarray | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return np.asarray(value)
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return np.ascontiguousarray(value)
    return None


def _summary(array: np.ndarray) -> dict[str, Any]:
    summary: dict[str, Any] = {"dtype": array.dtype.str, "shape": list(array.shape)}
    if array.ndim == 0:
        value = array.item()
        summary["value"] = value if not isinstance(value, float) or math.isfinite(value) else None
    return summary


def save_strategy_output(returned: Any, out_dir: Path) -> dict[str, Any] | None:
    """Store what the strategy returned when it is an array or a number, as
    ``strategy_output.npy`` (numpy's format has no timestamps: same value, same bytes), or a
    tuple of them, as ``strategy_output.npz`` (entries "0", "1", ...); what result.json says
    about it. None, booleans and elapse()'s end codes 0 and 1 are how a loop ends, not output;
    anything else is refused."""
    if returned is None or isinstance(returned, bool | np.bool_):
        return None
    if isinstance(returned, int | np.integer) and int(returned) in (0, 1):
        return None
    array = _storable(returned)
    if array is not None:
        with open(out_dir / STRATEGY_OUTPUT_FILE, "wb") as handle:
            np.lib.format.write_array(handle, array, allow_pickle=False)
        return {"file": STRATEGY_OUTPUT_FILE, **_summary(array)}
    items = [_storable(item) for item in returned] if isinstance(returned, tuple) else [None]
    if not items or any(item is None for item in items):
        raise EngineError(
            f"the strategy returned a {type(returned).__name__}; the runtime stores an array, a"
            " number or a tuple of them (or nothing: None, True/False, elapse()'s 0 or 1)"
        )
    arrays = {str(i): item for i, item in enumerate(items) if item is not None}
    write_npz_deterministic(out_dir / STRATEGY_OUTPUTS_FILE, arrays)
    return {"file": STRATEGY_OUTPUTS_FILE, "items": [_summary(a) for a in arrays.values()]}
