"""Sweep files in both shapes, one loader and planner: grids expanded in a stated order with exact
ranges, every point validated against the config and the strategy, every problem one line naming
the file, the point and the key; variant keys safe for Dagster's multi-partition keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trading_runtime.argo import ArgoError
from trading_runtime.argo import plan_variants as argo_plan_variants
from trading_runtime.config import BacktestConfig, apply_overrides, example_config_path, load_config
from trading_runtime.sweeps import (
    MAX_PARTITIONS,
    MAX_SWEEP_POINTS,
    MAX_VARIANT_KEY_LENGTH,
    SweepError,
    check_partition_budget,
    load_sweep_file,
    parse_sweep,
    plan_variants,
    variant_key,
    variant_key_problem,
)
from trading_runtime.sweeps.grid import range_values

GRID = {
    "strategy.quote_offset_ticks": {"start": 0, "stop": 2, "step": 1},
    "strategy.order_qty": [0.1, 0.2],
}


@pytest.fixture(scope="module")
def config() -> BacktestConfig:
    return load_config(example_config_path())


def write(tmp_path: Path, raw: Any) -> Path:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(raw))
    return path


def refusal(config: BacktestConfig, tmp_path: Path, raw: Any) -> str:
    with pytest.raises(SweepError) as caught:
        plan_variants(config, load_sweep_file(write(tmp_path, raw)), "base.json")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "sweep.json") in message
    return message


def test_a_grid_is_the_cartesian_product_in_key_order(tmp_path: Path) -> None:
    sweep = load_sweep_file(write(tmp_path, GRID))
    assert sweep.shape == "grid" and sweep.unit == "point"
    # Keys sorted (order_qty before quote_offset_ticks), the last varying fastest; stop included.
    assert [tuple(p.values()) for p in sweep.points] == [
        (0.1, 0),
        (0.1, 1),
        (0.1, 2),
        (0.2, 0),
        (0.2, 1),
        (0.2, 2),
    ]
    assert all(list(p) == sorted(GRID) for p in sweep.points)
    reordered = dict(reversed(list(GRID.items())))
    assert parse_sweep(reordered).points == sweep.points


def test_float_ranges_do_not_accumulate() -> None:
    assert range_values("k", {"start": 0, "stop": 0.3, "step": 0.1}) == [0.0, 0.1, 0.2, 0.3]
    assert range_values("k", {"start": 0.05, "stop": 0.5, "step": 0.15}) == [0.05, 0.2, 0.35, 0.5]
    assert range_values("k", {"start": 1, "stop": 2, "step": 0.25})[-1] == 2.0
    ints = range_values("k", {"start": -2, "stop": 3, "step": 2})
    assert ints == [-2, 0, 2] and all(type(v) is int for v in ints)
    assert range_values("k", {"start": 1, "stop": 1, "step": 5}) == [1]


def test_both_shapes_plan_the_same_variants(config: BacktestConfig, tmp_path: Path) -> None:
    grid = plan_variants(config, load_sweep_file(write(tmp_path, GRID)), "base.json")
    listed = [dict(p) for p in parse_sweep(GRID).points]
    from_list = plan_variants(config, load_sweep_file(write(tmp_path, listed)), "base.json")
    assert grid == from_list and len(grid) == 6
    for variant in grid:
        effective = apply_overrides(config, variant.overrides)
        assert variant.config_hash == effective.config_hash()
        assert variant.id == variant.config_hash[:12]  # the Argo path's variant id
        assert variant.key.endswith(f"-{variant.id}") and variant_key_problem(variant.key) is None
    assert grid[1].key == f"order_qty=0.1_quote_offset_ticks=1-{grid[1].id}"
    # The Argo path plans through the same planner.
    assert argo_plan_variants(config, listed, "base.json") == grid


def test_no_sweep_is_one_base_variant(config: BacktestConfig) -> None:
    (base,) = plan_variants(config)
    assert base.overrides == {} and base.key == f"base-{config.config_hash()[:12]}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A typo'd key: in the config model, and among the strategy's parameters.
        (
            [{"engine.tick_sise": 0.5}],
            'entry 0 {"engine.tick_sise":0.5}: engine.tick_sise: unknown key',
        ),
        (
            {"strategy.quote_ofset_ticks": [1, 2]},
            "point 0 {\"strategy.quote_ofset_ticks\":1}: strategy 'trading_runtime.strategies.market_maker:market_maker'(hbt, ",
        ),
        # Wrong types: for a config field, a strategy parameter, an integer parameter.
        ([{"engine.tick_size": "0.5"}], "engine.tick_size: '0.5' is a string, expected a number"),
        (
            [{"strategy.order_qty": 0.1}, {"strategy.order_qty": "x"}],
            'entry 1 {"strategy.order_qty":"x"}: strategy.order_qty: \'x\' is a string',
        ),
        (
            {"strategy.quote_offset_ticks": {"start": 0, "stop": 1, "step": 0.5}},
            'point 0 {"strategy.quote_offset_ticks":0.0}: strategy.quote_offset_ticks: 0.0 is not an integer',
        ),
        ([{"engine.tick_size": -1}], "engine.tick_size: Input should be greater than 0"),
        # Non-finite values, listed or in a range.
        (
            [{"strategy.order_qty": float("nan")}],
            'entry 0 {"strategy.order_qty":NaN}: strategy.order_qty: nan is not a finite number',
        ),
        (
            {"strategy.order_qty": [0.1, float("inf")]},
            'point 1 {"strategy.order_qty":Infinity}: strategy.order_qty: inf is not',
        ),
        (
            {"strategy.order_qty": {"start": 0.1, "stop": float("inf"), "step": 0.1}},
            "key strategy.order_qty: range stop inf is not a finite number",
        ),
        # Empty: the grid, a key's values, the list.
        ({}, "an empty grid"),
        ({"strategy.order_qty": []}, "key strategy.order_qty: an empty list of values"),
        ([], "expected a non-empty JSON list of objects"),
        # Steps, range keys, a bare value.
        (
            {"strategy.order_qty": {"start": 0.1, "stop": 1, "step": 0}},
            "range step 0 must be greater than 0",
        ),
        (
            {"strategy.order_qty": {"start": 0.1, "stop": 1, "step": -0.1}},
            "range step -0.1 must be greater than 0",
        ),
        (
            {"strategy.order_qty": {"start": 1, "stop": 0, "step": 1}},
            "range stop 0 is below start 1",
        ),
        (
            {"strategy.order_qty": {"start": 1, "stop": 2}},
            "a range takes start, stop and step (missing step)",
        ),
        (
            {"strategy.order_qty": 0.1},
            "expected a list of values or a {start, stop, step} range, got 0.1 (one value: [0.1])",
        ),
        # Duplicates: the same value twice, or two entries giving the same config.
        ({"strategy.order_qty": [0.1, 0.2, 0.1]}, "points 0 and 2 give the same config"),
        ([{}, {"strategy.order_qty": 0.1}], "entries 0 and 1 give the same config ({} and"),
        # Over the limit: refused before the grid is expanded.
        ({"strategy.order_qty": {"start": 0, "stop": 1e9, "step": 1}}, "1,000,000,001 points"),
        (
            {"engine.tick_size": [0.5, 1.0], "strategy.order_qty": list(range(1, 5002))},
            f"10,002 points (engine.tick_size 2 x strategy.order_qty 5,001), over the limit of {MAX_SWEEP_POINTS:,}",
        ),
    ],
)
def test_a_bad_sweep_fails_with_one_line(
    config: BacktestConfig, tmp_path: Path, raw: Any, expected: str
) -> None:
    message = refusal(config, tmp_path, raw)
    assert expected in message
    if "ofset" in expected:
        assert "strategy.quote_ofset_ticks is not a parameter (did you mean" in message


def test_the_argo_path_raises_argo_errors(config: BacktestConfig) -> None:
    with pytest.raises(ArgoError, match="entries 0 and 1 give the same config"):
        argo_plan_variants(config, [{}, {}], "base.json", "sweep.json")


def test_the_partition_budget() -> None:
    check_partition_budget(200, 500)
    check_partition_budget(1, MAX_PARTITIONS)
    with pytest.raises(SweepError) as caught:
        check_partition_budget(200, 600)
    assert str(caught.value) == (
        "sweep of 200 variants x 600 parts = 120,000 partitions, over Dagster's comfort limit"
        " of 100,000: split the sweep into 2 files of at most 166 variants each, or run fewer"
        " parts"
    )
    with pytest.raises(SweepError, match="run the parts in smaller sets"):
        check_partition_budget(2, 200_000)


@pytest.mark.parametrize("character", ["|", ",", "[", "]"])
def test_keys_with_what_dagster_drops_are_refused(character: str) -> None:
    problem = variant_key_problem(f"a{character}b-0123456789ab")
    assert problem is not None and repr(character) in problem and "Dagster" in problem


def test_keys_are_safe_bounded_and_keep_the_hash() -> None:
    overrides = {"strategy.levels": [1, 2], "strategy.mode": "a|b,c", "strategy.x": -0.5}
    key = variant_key(overrides, "0123456789ab")
    assert key == "levels=_1_2__mode=a_b_c_x=-0.5-0123456789ab"
    assert variant_key_problem(key) is None
    long = variant_key({f"strategy.parameter_{i}": i for i in range(20)}, "0123456789ab")
    assert len(long) <= MAX_VARIANT_KEY_LENGTH and long.endswith("-0123456789ab")
    assert variant_key_problem(long) is None
    assert variant_key_problem("x" * 101) == "longer than 100 characters"
    assert variant_key_problem("a b") is not None
