"""Validation rules the config's models share: strict types, finite numbers, engine limits.

Each rule raises ``ValueError`` with the message a config error shows (pydantic turns it into
a ``ConfigError`` line naming the field, see ``trading_runtime.config.loading``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "INT64_MAX",
    "MAX_ROI_LEVELS",
    "ConfigError",
    "StrictModel",
    "check_queue_and_exchange",
    "check_roi_range",
    "known_fixes_once",
    "non_finite",
    "require_finite",
]

# hftbacktest passes integers to Rust as 64-bit; a larger one fails inside the engine.
INT64_MAX = 2**63 - 1
# hftbacktest's ROI depth holds one slot per price level between roi_lb and roi_ub, in several
# arrays: 10 million levels cost about 160 MB more per worker (measured: 1e8 levels took 1.9 GB,
# 1e10 aborted the worker on a failed 80 GB allocation).
MAX_ROI_LEVELS = 10_000_000


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field path."""


class StrictModel(BaseModel):
    # strict: a JSON document's types are meant as written (``true`` is not the number 1, "5"
    # is not 5); NaN and infinity are never a usable setting.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def non_finite(value: Any, path: str) -> list[str]:
    """Dotted paths of NaN/infinite floats inside free-form values (JSON serialises them as
    null, so the engine worker, which receives the config as JSON, would see another config)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path} = {value}"]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in non_finite(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [hit for i, item in enumerate(value) for hit in non_finite(item, f"{path}[{i}]")]
    return []


def require_finite(value: Any, path: str) -> Any:
    found = non_finite(value, path)
    if found:
        raise ValueError(f"{', '.join(found)}: numbers must be finite")
    return value


def check_queue_and_exchange(queue_type: str, exchange: str) -> None:
    if queue_type == "l3_fifo" and exchange == "partial_fill":
        raise ValueError(
            "queue_model l3_fifo cannot run with exchange partial_fill (hftbacktest 2.4.4:"
            " L3PartialFillExchange is unsupported)"
        )


def check_roi_range(roi_lb: float, roi_ub: float, tick_size: float) -> None:
    """An ROI depth's range: ordered, and few enough price levels to allocate."""
    if roi_lb >= roi_ub:
        raise ValueError(f"depth.roi_lb ({roi_lb}) must be below depth.roi_ub ({roi_ub})")
    levels = (roi_ub - roi_lb) / tick_size
    if levels > MAX_ROI_LEVELS:
        raise ValueError(
            f"depth.roi_lb..roi_ub ({roi_lb:g}..{roi_ub:g}) spans"
            f" {levels:.3g} price levels of tick_size {tick_size:g}; hftbacktest"
            f" allocates memory for every level, at most {MAX_ROI_LEVELS:,} are allowed:"
            " narrow the range to the prices the data holds"
        )


def known_fixes_once(value: Any, known: Sequence[str]) -> Any:
    """Framework fixes as given (a JSON array or a tuple): each known, each once, in ``known``'s
    order. Anything but a sequence of strings is returned as it is, for field validation to
    report its type."""
    if isinstance(value, list):
        value = tuple(value)  # a JSON array (strict mode takes only tuples)
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        return value  # let field validation report the wrong type
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(
            f"unknown fix(es) {', '.join(map(repr, unknown))}; known fixes: {', '.join(known)}"
        )
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ValueError(f"{', '.join(map(repr, repeated))} listed more than once")
    # One spelling per set of fixes: the same fixes give the same config hash.
    return tuple(name for name in known if name in value)
