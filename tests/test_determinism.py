"""The determinism contract where hftbacktest 2.4.4 is not bit-exact (see ``results``).

Its exchange keeps resting orders in a randomly seeded hash map; when one book update crosses
several of them at different prices, their fills (and so the running balance) are summed in a
random order. Raw files may then differ in the last bits; the content hash and the metrics may not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trading_runtime.config import BacktestConfig, FeeModel, example_config_path
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.results import canonical_record, canonical_steps, canonical_unsafe_columns

FRESH_PROCESSES = 5
_RUN_ONE = """
import json, sys
from pathlib import Path
from trading_runtime.config import parse_config
from trading_runtime.data.validate import validate_part
from trading_runtime.backtest.execute import execute_backtest
from trading_runtime.backtest.fan_out import prepare_out_dir
config = parse_config(json.loads(sys.argv[1]), "config")
out = prepare_out_dir(Path(sys.argv[3]))
document = execute_backtest(config, validate_part(Path(sys.argv[2])), out)
print(json.dumps(document))
"""


def _order_sensitive_config() -> dict[str, object]:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    # An instrument tick finer than the data's 0.5 grid: one move of the book crosses several
    # of the strategy's resting orders at once, and with fewer orders resting than ticks moved
    # hftbacktest walks its hash map (random order) instead of its price ladder.
    raw["engine"]["tick_size"] = 0.1
    raw["strategy"] = {
        "class_path": "support.strategies_for_tests:ladder_inside_spread",
        "interval_ns": 50_000_000,
        "levels": 2,
        "order_qty": 0.01,
    }
    return raw


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_fresh_processes_agree_on_content_hash_and_metrics_despite_fill_order(
    tmp_path: Path,
) -> None:
    (part,) = generate_parts(GeneratorSpec(parts=1, events=20_000, seed=3), tmp_path / "parts")
    config = json.dumps(_order_sensitive_config())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN_ONE, config, str(part), str(tmp_path / f"out-{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(FRESH_PROCESSES)
    ]
    documents = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        documents.append(json.loads(out.splitlines()[-1]))

    raw = {d["provenance"]["files"]["stats.npz"] for d in documents}
    # The part has order-sensitive fills: the engine's raw record is not the same every time
    # (five runs all agreeing by chance is vanishingly unlikely with this many of them).
    assert len(raw) > 1, "the data no longer exercises hftbacktest's fill-order randomness"
    assert documents[0]["metrics"]["trades"] > 1000
    assert documents[0]["provenance"]["canonical_unsafe_columns"] == []  # the claim applies
    assert len({d["provenance"]["content_hash"] for d in documents}) == 1
    assert len({json.dumps(d["provenance"]["canonical_files"]) for d in documents}) == 1
    assert all(d["metrics"] == documents[0]["metrics"] for d in documents)
    # Where the raw records differ, it is by a few ulp of the running sums only.
    records = [np.load(tmp_path / f"out-{i}" / "stats.npz")["0"] for i in range(FRESH_PROCESSES)]
    for record in records[1:]:
        for name in ("timestamp", "num_trades", "price"):
            assert np.array_equal(record[name], records[0][name], equal_nan=True)
        for name in ("balance", "fee", "position", "trading_value", "trading_volume"):
            assert np.allclose(record[name], records[0][name], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        (
            {
                "tick_size": 0.5,
                "lot_size": 0.01,
                "contract_size": 1,
                "fee_model": FeeModel(type="trading_value", maker=0.0, taker=0.0005),
            },
            {
                "price": 0.25,
                "position": 0.01,
                "balance": 0.005,
                "fee": 2.5e-06,
                "trading_volume": 0.01,
                "trading_value": 0.005,
            },
        ),
        (  # maker rebate and taker fee: the fee grid is their common divisor (0.00005)
            {
                "tick_size": 0.1,
                "lot_size": 0.001,
                "contract_size": 10,
                "fee_model": FeeModel(type="trading_value", maker=-0.0001, taker=0.00025),
            },
            {
                "price": 0.05,
                "position": 0.001,
                "balance": 0.001,
                "fee": 5e-08,
                "trading_volume": 0.001,
                "trading_value": 0.001,
            },
        ),
        (  # no fees: fees stay on the money grid
            {
                "tick_size": 1,
                "lot_size": 1,
                "contract_size": 1,
                "fee_model": FeeModel(type="trading_value", maker=0.0, taker=0.0),
            },
            {
                "price": 0.5,
                "position": 1.0,
                "balance": 1.0,
                "fee": 1.0,
                "trading_volume": 1.0,
                "trading_value": 1.0,
            },
        ),
        (  # a fee per unit of quantity: the lot times the rates' common divisor
            {
                "tick_size": 0.5,
                "lot_size": 0.01,
                "fee_model": FeeModel(type="trading_qty", maker=0.0, taker=0.02),
            },
            {
                "price": 0.25,
                "position": 0.01,
                "balance": 0.005,
                "fee": 0.0002,
                "trading_volume": 0.01,
                "trading_value": 0.005,
            },
        ),
        (  # a flat fee per fill: the fees' common divisor
            {
                "tick_size": 0.5,
                "lot_size": 0.01,
                "fee_model": FeeModel(type="flat_per_trade", maker=0.25, taker=0.5),
            },
            {
                "price": 0.25,
                "position": 0.01,
                "balance": 0.005,
                "fee": 0.25,
                "trading_volume": 0.01,
                "trading_value": 0.005,
            },
        ),
    ],
)
def test_canonical_steps_follow_the_instrument_grid(
    hft_config: BacktestConfig, engine: dict[str, Any], expected: dict[str, float]
) -> None:
    config = hft_config.model_copy(update={"engine": hft_config.engine.model_copy(update=engine)})
    assert canonical_steps(config.engine) == pytest.approx(expected, rel=1e-12)


def test_canonical_record_snaps_last_bit_noise_and_keeps_nan() -> None:
    steps = {"balance": 0.005, "price": 0.25}
    record = np.zeros(3, dtype=[("timestamp", "i8"), ("price", "f8"), ("balance", "f8")])
    record["price"] = [np.nan, 60000.25, 60000.5]
    noisy = record.copy()
    record["balance"] = [0.1 + 0.2, -1234.565, 0.0]  # 0.30000000000000004 and friends
    noisy["balance"] = [0.3, np.nextafter(-1234.565, 0), -0.0]
    a, b = canonical_record(record, steps), canonical_record(noisy, steps)
    assert a.tobytes() == b.tobytes()
    assert np.isnan(a["price"][0]) and a["balance"][0] == pytest.approx(0.3)


def test_a_grid_finer_than_the_float_noise_is_reported() -> None:
    record = np.zeros(2, dtype=[("num_trades", "i8"), ("balance", "f8"), ("fee", "f8")])
    record["num_trades"] = [0, 100_000]
    record["balance"] = [0.0, -5_000_000.0]
    record["fee"] = [0.0, 1_000.0]
    # 100,000 fills of a 5e6 balance carry up to ~1e-4 of noise: a 1e-4 grid is not safe, 1 is.
    assert canonical_unsafe_columns(record, {"balance": 1e-4, "fee": 1e-20}) == ["balance", "fee"]
    assert canonical_unsafe_columns(record, {"balance": 1.0, "fee": 1e-6}) == []
