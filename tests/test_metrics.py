import numpy as np
import pytest
from hftbacktest.types import record_dtype

from trading_runtime.results.aggregate import aggregate_table, markdown_table
from trading_runtime.results.metrics import compute_metrics, curve_from_record


def _record(
    prices: list[float], positions: list[float], balances: list[float], fees: list[float]
) -> np.ndarray:
    n = len(prices)
    record = np.zeros(n, dtype=record_dtype)
    record["timestamp"] = 1_700_000_000_000_000_000 + np.arange(n) * 1_000_000_000
    record["price"] = prices
    record["position"] = positions
    record["balance"] = balances
    record["fee"] = fees
    record["num_trades"] = np.arange(n)
    record["trading_volume"] = np.arange(n) * 0.1
    record["trading_value"] = np.arange(n) * 10.0
    return record


def test_equity_is_balance_plus_position_value_minus_fees() -> None:
    record = _record([100, 101, 99], [0, 1, 1], [0, -100, -100], [0, 0.1, 0.1])
    curve = curve_from_record(record, contract_size=2.0)
    np.testing.assert_allclose(curve["equity"].to_numpy(), [0.0, 101.9, 97.9])


def test_metrics_from_a_known_curve() -> None:
    # Equity: 0, 1, 3, 2, 5 -> pnl 5, max drawdown 1 (3 -> 2).
    equity = [0.0, 1.0, 3.0, 2.0, 5.0]
    record = _record([100.0] * 5, [0.0] * 5, equity, [0.0] * 5)
    metrics = compute_metrics(record, contract_size=1.0, book_size=100.0)
    assert metrics["pnl"] == pytest.approx(5.0)
    assert metrics["return"] == pytest.approx(0.05)
    assert metrics["max_drawdown"] == pytest.approx(1.0)
    assert metrics["return_over_mdd"] == pytest.approx(5.0)
    assert metrics["sharpe"] is not None and metrics["sharpe"] > 0
    assert metrics["trades"] == 4 and metrics["volume"] == pytest.approx(0.4)
    assert metrics["records"] == 5


def test_undefined_ratios_are_none_not_nan() -> None:
    flat = _record([100.0] * 4, [0.0] * 4, [0.0] * 4, [0.0] * 4)
    metrics = compute_metrics(flat, contract_size=1.0)
    assert metrics["pnl"] == 0.0 and metrics["return"] is None
    assert metrics["sharpe"] is None  # zero variance
    empty = compute_metrics(np.zeros(0, dtype=record_dtype), contract_size=1.0)
    assert empty["records"] == 0 and empty["pnl"] is None


def test_two_records_give_no_ratios_and_coverage_is_measured() -> None:
    # One second of record -> one PnL row after resampling: hftbacktest's Sharpe would divide by
    # a None standard deviation; the ratios are undefined instead.
    short = _record([100.0, 101.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0])
    start = int(short["timestamp"][0])
    metrics = compute_metrics(short, 1.0, span=(start, start + 4_000_000_000))
    assert metrics["pnl"] == pytest.approx(1.0)
    assert metrics["sharpe"] is None and metrics["sortino"] is None
    assert metrics["data_coverage"] == pytest.approx(0.25)  # 1 s of a 4 s part


def test_aggregate_sorts_rows_and_totals_additive_columns() -> None:
    rows = [
        {
            "partition": "b",
            "n_events": 10,
            "pnl": 2.0,
            "trades": 3,
            "volume": 1.5,
            "max_drawdown": 0.5,
            "sharpe": 1.0,
            "config_hash": "c1",
            "engine": "hftbacktest",
        },
        {
            "partition": "a",
            "n_events": 20,
            "pnl": -1.0,
            "trades": 1,
            "volume": 0.5,
            "max_drawdown": 2.0,
            "sharpe": 3.0,
            "config_hash": "c2",
            "engine": "hftbacktest",
        },
    ]
    table = aggregate_table(rows)
    assert table["partition"].to_pylist() == ["a", "b", "TOTAL"]
    total = table.to_pylist()[-1]
    assert total["pnl"] == pytest.approx(1.0) and total["trades"] == 4 and total["n_events"] == 30
    assert total["max_drawdown"] == 2.0 and total["sharpe"] is None
    assert total["config_hash"] == "mixed" and total["engine"] == "hftbacktest"
    text = markdown_table(table)
    assert text.splitlines()[0].startswith("| partition | n_events | pnl")
    assert "| TOTAL | 30 | 1 |" in text


def test_sharpe_is_over_the_part_not_annualised() -> None:
    # 76 one-second records (a 75 s part) with PnL steps +1, -0.5, +1, ...
    steps = np.array([1.0 if i % 2 == 0 else -0.5 for i in range(75)])
    equity = np.concatenate([[0.0], np.cumsum(steps)])
    record = _record([100.0] * 76, [0.0] * 76, list(equity), [0.0] * 76)
    record["timestamp"] = 1_700_000_000_000_000_000 + np.arange(76) * 1_000_000_000
    span = (int(record["timestamp"][0]), int(record["timestamp"][-1]))
    metrics = compute_metrics(record, contract_size=1.0, span=span)
    expected = steps.mean() / steps.std(ddof=1) * np.sqrt(75)  # sqrt(seconds in the part)
    assert metrics["sharpe"] == pytest.approx(expected, rel=1e-9)
    assert abs(metrics["sharpe"]) < 10  # annualised, the same part would read ~1,900


def test_ui_metadata_values_are_rounded() -> None:
    from trading_runtime.defs.assets import readable

    assert readable(-0.05999999999236975) == -0.06
    assert readable(58.000000000000554) == 58.0
    assert readable(598) == 598 and readable(None) is None
