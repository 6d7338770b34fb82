"""Part validation: everything hftbacktest needs from a file, checked before any engine starts.

hftbacktest waits forever on a file it cannot read, so an unreadable part must never reach it;
and it runs without complaint on data that cannot mean anything (NaN prices, timestamps in the
wrong unit), so those fail here too, naming the file, the row and the column. What needs the
config too (the ROI, the record interval) is checked in ``config_fit``; reading the archive is
``part_archive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeAlias

import numpy as np
from hftbacktest import (
    DEPTH_BBO_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    TRADE_EVENT,
)

from trading_runtime.data.event_scan import EventScan, scan_events
from trading_runtime.data.part_archive import check_dtype_and_shape, load_part_events
from trading_runtime.data.part_info import PartInfo, PartValidationError, sha256_file
from trading_runtime.data.touch import touch_range
from trading_runtime.layout import part_key

__all__ = [
    "MAX_TS_NS",
    "MIN_TS_NS",
    "PartInfo",
    "PartValidationError",
    "check_events",
    "load_part_events",
    "sha256_file",
    "validate_part",
    "validate_part_events",
]

# Plausible event times, nanoseconds since the epoch: 2000-01-01 to 2100-01-01 (UTC). A value
# outside is a unit mistake (seconds, microseconds) or garbage, which the engine would read as
# a part lasting centuries.
MIN_TS_NS = 946_684_800_000_000_000
MAX_TS_NS = 4_102_444_800_000_000_000

# Event kinds (the low byte of ``ev``) whose ``px`` is a market price the depth or a trade holds;
# a clear event's px is a bound, and order-by-order events are not market depth.
_PRICE_KINDS = (DEPTH_EVENT, TRADE_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT)
_IS_PRICE_KIND = np.isin(np.arange(256), _PRICE_KINDS)  # by the low byte of ``ev``
# The columns the numpy checks (a part the one-pass scan found broken) read more than once, each
# copied contiguous first (``_columns``): a column read in place costs a pass over every row.
_COPIED = ("ev", "exch_ts", "local_ts")
# An event array, or its columns by name.
_Rows: TypeAlias = np.ndarray | Mapping[str, np.ndarray]


def _columns(data: np.ndarray) -> dict[str, np.ndarray]:
    names = data.dtype.names or ()
    return {n: np.ascontiguousarray(data[n]) if n in _COPIED else data[n] for n in names}


def _first_row(mask: np.ndarray) -> int | None:
    return int(np.argmax(mask)) if mask.any() else None


def _check_finite(path: Path, data: _Rows) -> None:
    for column in ("px", "qty"):
        row = _first_row(~np.isfinite(data[column]))
        if row is not None:
            raise PartValidationError(
                f"part {path}: row {row} has {column} {data[column][row]}; prices and quantities"
                " must be finite numbers"
            )


def _check_timestamp_range(path: Path, data: _Rows) -> None:
    bad = {
        column: _first_row((data[column] < MIN_TS_NS) | (data[column] >= MAX_TS_NS))
        for column in ("exch_ts", "local_ts")
    }
    found = [(row, column) for column, row in bad.items() if row is not None]
    if found:
        row, column = min(found)
        raise PartValidationError(
            f"part {path}: row {row} has {column} {int(data[column][row])}, outside years"
            f" 2000-2100 ({MIN_TS_NS}..{MAX_TS_NS}); timestamps must be nanoseconds since the"
            " epoch"
        )


def _check_order(path: Path, data: _Rows) -> None:
    """hftbacktest's own rule (``validate_event_order``), with the row that breaks it."""
    for flag, column, kind in (
        (EXCH_EVENT, "exch_ts", "exchange"),
        (LOCAL_EVENT, "local_ts", "local"),
    ):
        mask = data["ev"] & np.uint64(flag) == np.uint64(flag)
        times = data[column][mask]
        back = _first_row(times[1:] < times[:-1])
        if back is not None:
            rows = np.flatnonzero(mask)
            row, previous = int(rows[back + 1]), int(rows[back])
            raise PartValidationError(
                f"part {path}: timestamps are not monotonic: row {row} has {column}"
                f" {int(times[back + 1])}, before row {previous}'s {int(times[back])};"
                f" {column} must be non-decreasing over {kind} events"
            )
    late = _first_row(data["local_ts"] < data["exch_ts"])
    if late is not None:
        raise PartValidationError(
            f"part {path}: row {late} has local_ts {int(data['local_ts'][late])} before exch_ts"
            f" {int(data['exch_ts'][late])}; expected local_ts >= exch_ts"
        )


def check_events(path: Path, data: np.ndarray) -> EventScan:
    """Check dtype, shape, values and timestamp order of an event array.

    A part is too short to backtest with fewer than 2 events or with every event at one
    instant: hftbacktest's clock only moves forward from the first event, so such a part
    records nothing whatever the strategy's interval (``check_records_possible`` applies the
    interval). Returns the scan of the (valid) events: their time and price spans."""
    check_dtype_and_shape(path, data.dtype, data.shape)
    if len(data) == 0:
        raise PartValidationError(f"part {path}: array 'data' is empty")
    scan = scan_events(data, _IS_PRICE_KIND, MIN_TS_NS, MAX_TS_NS)
    if not scan.valid:  # the numpy checks find the first offending row and name it
        columns = _columns(data)
        _check_finite(path, columns)
        _check_timestamp_range(path, columns)
        _check_order(path, columns)
        # Unreachable while the two agree (tests/test_event_scan.py): never go on with the
        # spans of a scan that stopped early.
        raise RuntimeError(f"part {path}: the event scan and the numpy checks disagree")
    if len(data) < 2:
        raise PartValidationError(
            f"part {path}: only 1 event; a part needs at least 2 events over some time to"
            " produce a record"
        )
    if scan.last_local_ts <= scan.first_exch_ts:
        raise PartValidationError(
            f"part {path}: all {len(data)} events are at one instant"
            f" ({scan.first_exch_ts} ns); a part must span some time to produce a record"
        )
    if not scan.has_price:
        raise PartValidationError(
            f"part {path}: no depth or trade events (event kinds in the low byte of 'ev':"
            f" {sorted({int(k) for k in np.unique(data['ev'] & np.uint64(0xFF))})});"
            " the engine would have no market to trade"
        )
    return scan


def validate_part(path: Path) -> PartInfo:
    """Validate a part and return its facts (counts, time span, price range, sha256)."""
    return validate_part_events(path)[0]


def validate_part_events(path: Path, sha256: str | None = None) -> tuple[PartInfo, np.ndarray]:
    """``validate_part``, and the part's events (for what needs them and the config too).
    ``sha256``: the file's, when the caller hashed it just before (not read again)."""
    path = Path(path)
    data = load_part_events(path)
    scan = check_events(path, data)
    touch = touch_range(data)
    return PartInfo(
        path=str(path),
        name=part_key(path),
        n_events=len(data),
        first_exch_ts=scan.first_exch_ts,
        last_exch_ts=scan.last_exch_ts,
        first_local_ts=scan.first_local_ts,
        last_local_ts=scan.last_local_ts,
        sha256=sha256 or sha256_file(path),
        size_bytes=path.stat().st_size,
        min_px=scan.min_px,  # a valid part has a depth or trade price
        max_px=scan.max_px,
        touch_min_px=touch.low,
        touch_max_px=touch.high,
    ), data
