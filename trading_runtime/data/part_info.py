"""What the runtime knows about a part file, and the error that refuses one.

Kept apart from ``validate`` (which needs hftbacktest and numba to check events) so that the
code location, the run process and the CLI name a part's facts without loading the engine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from trading_runtime.data.files import open_regular

__all__ = ["PartInfo", "PartValidationError", "sha256_file"]


class PartValidationError(ValueError):
    """A part file that cannot be backtested; the message names the file and the problem."""


@dataclass(frozen=True)
class PartInfo:
    """What the runtime records about a valid part. ``min_px``/``max_px`` span the prices of its
    depth and trade events (None when it has none); ``touch_min_px``/``touch_max_px`` the best
    bid/ask prices over time and the trade prices (``data.touch``), what the ROI must cover."""

    path: str
    name: str
    n_events: int
    first_exch_ts: int
    last_exch_ts: int
    first_local_ts: int
    last_local_ts: int
    sha256: str
    size_bytes: int
    min_px: float | None = None
    max_px: float | None = None
    touch_min_px: float | None = None
    touch_max_px: float | None = None


def sha256_file(path: Path) -> str:
    """sha256 of a regular file (``files.open_regular``: a FIFO is refused, never read)."""
    with open_regular(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
