"""Numbers are finite or the part fails: an order size that overflows the engine's money
columns is never stored as a result, and an order size past the config's own risk limits fails
the part before the engine starts."""

from pathlib import Path

import numpy as np
import pytest

from trading_runtime.adapters import EngineError
from trading_runtime.backtest.fan_out import backtest_part
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import apply_overrides, example_config_path, load_config, parse_config
from trading_runtime.data.validate import PartValidationError
from trading_runtime.results.finite import check_finite_result


def test_an_overflowing_order_size_fails_the_part(
    tmp_path: Path, parts_dir: Path, pool: WorkerPool
) -> None:
    document = load_config(example_config_path("hftbacktest")).model_dump(mode="json")
    document.pop("risk")  # no limits stated: only the result's numbers can tell
    document["strategy"]["params"]["order_qty"] = 1e300
    config = parse_config(document, "<test>")
    out = tmp_path / "out"
    with pytest.raises(EngineError, match=r"part part-00000: .*not finite") as caught:
        backtest_part(config, parts_dir / "part-00000.npz", out, pool=pool)
    assert "\n" not in str(caught.value)
    assert not out.exists()  # nothing staged, nothing to publish


def test_an_order_size_past_the_risk_limits_fails_before_the_engine(
    tmp_path: Path, parts_dir: Path, pool: WorkerPool
) -> None:
    config = apply_overrides(
        load_config(example_config_path("hftbacktest")), {"strategy.order_qty": 1e300}
    )
    with pytest.raises(PartValidationError, match=r"max_single_order_notional = 10000"):
        backtest_part(config, parts_dir / "part-00000.npz", tmp_path / "out", pool=pool)
    below_a_lot = apply_overrides(config, {"strategy.order_qty": 0.001})
    with pytest.raises(PartValidationError, match=r"order_qty = 0.001 .*lot_size = 0.01"):
        backtest_part(below_a_lot, parts_dir / "part-00000.npz", tmp_path / "out2", pool=pool)


def test_every_metric_and_money_column_is_checked() -> None:
    record = np.zeros(3, dtype=[("price", "f8"), ("balance", "f8"), ("trading_value", "f8")])
    record["price"] = [np.nan, 1.0, 2.0]  # no book yet: a NaN price is allowed
    check_finite_result("p", record, {"pnl": 1.0, "sharpe": None, "trades": 3})
    with pytest.raises(EngineError, match="metric pnl = inf"):
        check_finite_result("p", record, {"pnl": float("inf")})
    record["trading_value"][2] = np.inf
    with pytest.raises(EngineError, match="column trading_value .* row 2"):
        check_finite_result("p", record, {})
