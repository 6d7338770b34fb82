"""The one-pass event scan (``data.event_scan``) says "valid" exactly when the numpy checks of
``data.validate`` find nothing, and reports the same span and price presence: it decides which
parts skip those checks, so any disagreement would let a bad part through or refuse a good one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hftbacktest import EXCH_EVENT, LOCAL_EVENT
from hypothesis import given, settings
from test_bad_input import FAST, event_arrays

from trading_runtime.data.event_scan import scan_events
from trading_runtime.data.validate import (
    _IS_PRICE_KIND,
    MAX_TS_NS,
    MIN_TS_NS,
    PartValidationError,
    _check_finite,
    _check_order,
    _check_timestamp_range,
    _columns,
    check_events,
)


def _price_rows(data: np.ndarray) -> np.ndarray:
    """Depth and trade events that either side sees, in numpy."""
    kinds = (data["ev"] & np.uint64(0xFF)).astype(np.uint8)
    seen = (data["ev"] & np.uint64(EXCH_EVENT | LOCAL_EVENT)) != 0
    return np.asarray(_IS_PRICE_KIND[kinds] & seen)


def _numpy_checks_pass(data: np.ndarray) -> bool:
    columns = _columns(data)
    try:
        _check_finite(Path("p.npz"), columns)
        _check_timestamp_range(Path("p.npz"), columns)
        _check_order(Path("p.npz"), columns)
    except PartValidationError:
        return False
    return True


@settings(FAST, max_examples=600)
@given(data=event_arrays())
def test_the_scan_agrees_with_the_numpy_checks(data: np.ndarray) -> None:
    for rows in (data, data[::2]):  # whole, and a strided view of it
        if len(rows) == 0:
            continue
        scan = scan_events(rows, _IS_PRICE_KIND, MIN_TS_NS, MAX_TS_NS)
        assert scan.valid == _numpy_checks_pass(rows)
        if scan.valid:
            prices = rows["px"][_price_rows(rows)]
            assert scan.has_price == (len(prices) > 0)
            for column, first, last in (
                ("exch_ts", scan.first_exch_ts, scan.last_exch_ts),
                ("local_ts", scan.first_local_ts, scan.last_local_ts),
            ):
                assert (first, last) == (int(rows[column].min()), int(rows[column].max()))
            if scan.has_price:
                assert (scan.min_px, scan.max_px) == (prices.min(), prices.max())


def test_a_bad_row_is_still_named_after_the_scan(tmp_path: Path) -> None:
    """The scan only says "not valid"; the message still names the row and the column."""
    from test_bad_input import BASE_EVENTS

    data = BASE_EVENTS.copy()
    data["qty"][17] = np.nan
    with pytest.raises(PartValidationError, match=r"row 17 has qty nan"):
        check_events(tmp_path / "p.npz", data)
    data = BASE_EVENTS.copy()
    data["local_ts"][30] = data["exch_ts"][30] - 1
    with pytest.raises(PartValidationError, match=r"row 30 has local_ts"):
        check_events(tmp_path / "p.npz", data)
