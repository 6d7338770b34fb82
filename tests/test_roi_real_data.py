"""The ROI check fits real data (issue 19, item 4): a real book holds resting orders far from
the touch (a Binance BTCUSDT recording: 560..621,369 around a 60,000 touch). hftbacktest's ROI
depth ignores depth outside the ROI by design, so only the touch (best bid/ask over time) and the
trade prices must be inside; the ignored depth events are counted in the result's provenance.
``roi: "auto"`` sets the range per part from its touch plus a margin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hftbacktest import (
    BUY_EVENT,
    DEPTH_BBO_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)
from hypothesis import given, settings
from test_bad_input import FAST, event_arrays

from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import BacktestConfig, apply_overrides
from trading_runtime.data.config_fit import check_part_fits_config, check_roi_covers
from trading_runtime.data.roi import resolve_roi
from trading_runtime.data.touch import count_depth_outside, touch_range
from trading_runtime.data.validate import PartValidationError, validate_part
from trading_runtime.layout import RESULT_FILE

FAR_BID, FAR_ASK = 560.0, 621_369.0


def _with_far_depth(source: Path, target: Path, copies: int = 3) -> Path:
    """``source`` with resting depth far from the touch, as real books hold: a bid at 560 and an
    ask at 621,369 on the first timestamp, ``copies`` times each (updates of those levels)."""
    data = np.load(source)["data"]
    far = np.repeat(data[:1], 2 * copies)
    flags = np.uint64(EXCH_EVENT | LOCAL_EVENT | DEPTH_EVENT)
    far["ev"][:copies] = flags | np.uint64(BUY_EVENT)
    far["px"][:copies] = FAR_BID
    far["ev"][copies:] = flags | np.uint64(SELL_EVENT)
    far["px"][copies:] = FAR_ASK
    far["qty"] = 1.0
    np.savez(target, data=np.concatenate([far, data]))
    return target


@pytest.fixture
def real_like_part(tmp_path: Path, generated_parts: list[Path]) -> Path:
    return _with_far_depth(generated_parts[0], tmp_path / "real-like.npz")


def test_far_resting_depth_is_not_refused(real_like_part: Path, hft_config: BacktestConfig) -> None:
    """The reproduction: refused before ("prices 560..621369 are not inside config ...'s
    ROI"), accepted now; the touch stays near the generator's mid price."""
    info = validate_part(real_like_part)
    assert (info.min_px, info.max_px) == (FAR_BID, FAR_ASK)
    assert info.touch_min_px is not None and info.touch_max_px is not None
    assert 40_000 < info.touch_min_px < info.touch_max_px < 80_000
    check_roi_covers(hft_config, info)
    check_part_fits_config(hft_config, info)


def test_a_touch_outside_the_roi_is_still_refused(
    real_like_part: Path, hft_config: BacktestConfig
) -> None:
    info = validate_part(real_like_part)
    assert info.touch_max_px is not None
    narrow = apply_overrides(hft_config, {"engine.depth.roi_ub": info.touch_max_px - 1})
    with pytest.raises(
        PartValidationError,
        match=rf"part {real_like_part}: best bid/ask and trade prices .* are not inside config",
    ):
        check_roi_covers(narrow, info)


def test_the_touch_follows_the_best_levels() -> None:
    """Removing the best bid makes the next bid below it the best; the touch is sampled once
    per local timestamp (levels of one message never count alone)."""
    from hftbacktest.binding import event_dtype

    both = EXCH_EVENT | LOCAL_EVENT
    rows = [
        (both | DEPTH_EVENT | BUY_EVENT, 1, 1, 500.0, 1.0),  # far bid, same message as the touch
        (both | DEPTH_EVENT | BUY_EVENT, 1, 1, 999.0, 1.0),
        (both | DEPTH_EVENT | SELL_EVENT, 1, 1, 1001.0, 1.0),
        (both | DEPTH_EVENT | SELL_EVENT, 1, 1, 5000.0, 1.0),
        (both | DEPTH_EVENT | BUY_EVENT, 2, 2, 998.0, 1.0),
        (both | DEPTH_EVENT | BUY_EVENT, 2, 2, 999.0, 0.0),  # best bid gone: 998 is best
        (both | TRADE_EVENT | SELL_EVENT, 3, 3, 1002.0, 1.0),
    ]
    data = np.array([(*row, 0, 0, 0.0) for row in rows], event_dtype)
    touch = touch_range(data)
    assert (touch.book_min, touch.book_max) == (998.0, 1001.0)
    assert (touch.low, touch.high) == (998.0, 1002.0)
    assert count_depth_outside(data, 900.0, 1100.0) == 2


@settings(FAST, max_examples=500)
@given(data=event_arrays())
def test_the_touch_reads_only_what_the_local_side_sees(data: np.ndarray) -> None:
    """The replay reads every event in place and skips what is not local depth or a trade: the
    same touch as over those events alone, and the trades' range over local finite trades."""
    kinds = data["ev"] & np.uint64(0xFF)
    local = (data["ev"] & np.uint64(LOCAL_EVENT)) != 0
    book_kinds = (DEPTH_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT, DEPTH_BBO_EVENT)
    book = local & np.isin(kinds, np.array(book_kinds, dtype=np.uint64))
    whole, alone = touch_range(data), touch_range(data[book])
    assert (whole.book_min, whole.book_max) == (alone.book_min, alone.book_max)
    trades = data["px"][local & (kinds == np.uint64(TRADE_EVENT)) & np.isfinite(data["px"])]
    expected = (float(trades.min()), float(trades.max())) if len(trades) else (None, None)
    assert (whole.trade_min, whole.trade_max) == expected


def _result(out: Path, key: str) -> dict:
    return json.loads((out / key / RESULT_FILE).read_text())


def test_the_part_runs_and_the_ignored_depth_is_counted(
    real_like_part: Path, hft_config: BacktestConfig, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    outcome = backtest_and_publish(hft_config, {"p": real_like_part}, out, workers=1)["p"]
    assert not isinstance(outcome, Exception), outcome
    roi = _result(out, "p")["provenance"]["roi"]
    assert roi == {
        "roi_lb": 40000.0,
        "roi_ub": 80000.0,
        "source": "config",
        "depth_outside_roi": 6,
    }


def test_auto_roi_is_resolved_per_part_and_recorded(
    real_like_part: Path, hft_config: BacktestConfig, tmp_path: Path
) -> None:
    auto = apply_overrides(
        hft_config, {"engine.depth": {"type": "roi_vector", "roi": "auto", "margin": 0.01}}
    )
    # The fixed-ROI config keeps its hash; the auto one is another config.
    assert auto.config_hash() != hft_config.config_hash()
    info = validate_part(real_like_part)
    choice = resolve_roi(auto, [info])
    assert choice is not None and choice.source == "auto"
    assert info.touch_min_px is not None and info.touch_max_px is not None
    assert choice.roi_lb <= info.touch_min_px * 0.99 < choice.roi_lb + auto.engine.tick_size
    assert choice.roi_ub - auto.engine.tick_size < info.touch_max_px * 1.01 <= choice.roi_ub
    out = tmp_path / "results"
    outcome = backtest_and_publish(auto, {"p": real_like_part}, out, workers=1)["p"]
    assert not isinstance(outcome, Exception), outcome
    provenance = _result(out, "p")["provenance"]
    assert provenance["config_hash"] == auto.config_hash()
    assert provenance["roi"] == {
        "roi_lb": choice.roi_lb,
        "roi_ub": choice.roi_ub,
        "source": "auto",
        "margin": 0.01,
        "touch": [info.touch_min_px, info.touch_max_px],
        "depth_outside_roi": 6,
    }


def test_auto_roi_takes_the_default_margin_and_refuses_fixed_bounds(
    hft_config: BacktestConfig,
) -> None:
    from trading_runtime.config.engine import DEFAULT_ROI_MARGIN

    auto = apply_overrides(hft_config, {"engine.depth": {"type": "roi_vector", "roi": "auto"}})
    assert auto.engine.depth.type == "roi_vector"
    assert getattr(auto.engine.depth, "margin", None) == DEFAULT_ROI_MARGIN
    with pytest.raises(ValueError, match="leave them out"):
        apply_overrides(
            hft_config,
            {"engine.depth": {"type": "roi_vector", "roi": "auto", "roi_lb": 1.0, "roi_ub": 2.0}},
        )
