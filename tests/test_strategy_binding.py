"""Strategies bound by name, in hftbacktest's tutorial styles, through the runtime's real path.

Reproduces issue 10: ``gridtrading_glft_mm(hbt, order_qty, recorder)`` could not run (the
recorder always went second, and the messages pointed the wrong way), ``(hbt)``-only functions
were refused, and a strategy's return value was thrown away.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hftbacktest import BacktestAsset, Recorder, ROIVectorMarketDepthBacktest
from support.strategies_for_tests import tutorial_recorder_last

from trading_runtime.adapters import EngineError, StrategyLoadError
from trading_runtime.adapters.hftbacktest import (
    STRATEGY_OUTPUT_FILE,
    STRATEGY_OUTPUTS_FILE,
    bind_strategy,
    check_strategy_return,
    save_strategy_output,
)
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import (
    BacktestConfig,
    apply_overrides,
    example_config_path,
    parse_config,
)
from trading_runtime.results import BacktestResult


def _config(class_path: str, engine: dict[str, Any] | None = None, **params: Any) -> BacktestConfig:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["strategy"] = {"class_path": class_path, **params}
    raw["engine"].update(engine or {})
    return parse_config(raw, "test")


def glft_style(hbt, order_qty, recorder):  # type: ignore[no-untyped-def]
    return None


def obi_style(hbt, stat, half_spread, roi_lb, roi_ub, tick_size, end_ts, skew=0.5):  # type: ignore[no-untyped-def]
    return None


def hbt_only(hbt):  # type: ignore[no-untyped-def]
    return None


def test_the_recorder_goes_to_its_name_wherever_it_stands() -> None:
    config = _config("support.strategies_for_tests:tutorial_recorder_last", order_qty=0.5)
    binding = bind_strategy(glft_style, config, end_ts=99)
    assert binding.arguments == (("order_qty", "config", 0.5), ("recorder", "recorder", None))
    assert binding.call_arguments("REC") == (0.5, "REC")
    assert (
        bind_strategy(
            hbt_only, _config("support.strategies_for_tests:tutorial_hbt_only"), 99
        ).arguments
        == ()
    )


def test_a_missing_parameter_names_how_every_argument_is_bound() -> None:
    """Before: "missing a required argument: 'recorder'; set it under strategy in the config"."""
    config = _config("support.strategies_for_tests:tutorial_recorder_last")
    with pytest.raises(StrategyLoadError) as excinfo:
        bind_strategy(glft_style, config, end_ts=99)
    assert str(excinfo.value) == (
        "strategy 'support.strategies_for_tests:tutorial_recorder_last'(hbt, order_qty, recorder):"
        " order_qty is missing. Binding: hbt <- the backtest; order_qty <- strategy.order_qty"
        " (missing: set strategy.order_qty in the config); recorder <- the runtime's recorder"
    )


def test_engine_values_are_bound_from_the_engine_section() -> None:
    config = _config(
        "support.strategies_for_tests:tutorial_stat_and_engine_values", half_spread=2.0
    )
    binding = bind_strategy(obi_style, config, end_ts=99)
    assert binding.arguments == (
        ("stat", "recorder", None),
        ("half_spread", "config", 2.0),
        ("roi_lb", "engine", 40000.0),
        ("roi_ub", "engine", 80000.0),
        ("tick_size", "engine", 0.5),
        ("end_ts", "end_ts", 99),
        ("skew", "default", 0.5),
    )
    # Written twice: refused, naming where the value comes from.
    twice = _config(config.strategy.class_path, half_spread=2.0, roi_lb=1.0)
    with pytest.raises(StrategyLoadError, match=r"roi_lb <- engine.depth.roi_lb \(strategy.roi_lb"):
        bind_strategy(obi_style, twice, end_ts=99)
    # The hash-map depth has no ROI: then the strategy's own roi_lb/roi_ub come from the config.
    hash_map = _config(
        config.strategy.class_path,
        {"depth": {"type": "hash_map"}},
        half_spread=2.0,
        roi_lb=1.0,
        roi_ub=2.0,
    )
    arguments = dict((n, (s, v)) for n, s, v in bind_strategy(obi_style, hash_map, 99).arguments)
    assert arguments["roi_lb"] == ("config", 1.0) and arguments["roi_ub"] == ("config", 2.0)


def test_recorder_argument_names_another_parameter() -> None:
    def two_candidates(hbt, recorder, stat):  # type: ignore[no-untyped-def]
        return None

    config = _config("support.strategies_for_tests:tutorial_recorder_second")
    with pytest.raises(StrategyLoadError, match="both recorder and stat could take the recorder"):
        bind_strategy(two_candidates, config, 0)

    def custom(hbt, rec, stat):  # type: ignore[no-untyped-def]
        return None

    raw = json.loads(config.model_dump_json())
    raw["strategy"]["recorder_argument"] = "rec"
    raw["strategy"]["params"] = {"stat": 3}
    named = parse_config(raw)
    assert "recorder_argument" not in named.strategy.params
    assert bind_strategy(custom, named, 0).arguments == (
        ("rec", "recorder", None),
        ("stat", "config", 3),
    )
    raw["strategy"]["recorder_argument"] = "recorder"
    with pytest.raises(StrategyLoadError, match="recorder_argument 'recorder' is not a parameter"):
        bind_strategy(custom, parse_config(raw), 0)


def _run(config: BacktestConfig, part: Path, out: Path) -> BacktestResult:
    outcome = backtest_and_publish(config, {part.stem: part}, out, timeout_s=120)[part.stem]
    assert isinstance(outcome, BacktestResult), outcome
    outcome.verify()
    return outcome


def test_tutorial_styles_run_through_the_runtime(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    part = generated_parts[0]
    recorder_second = _run(
        _config("support.strategies_for_tests:tutorial_recorder_second"), part, tmp_path / "a"
    )
    assert recorder_second.metrics["trades"] > 0
    assert recorder_second.provenance["recorded_by"] == "strategy"
    assert recorder_second.provenance["strategy_output"] is None  # it returned True

    hbt_only_result = _run(
        _config("support.strategies_for_tests:tutorial_hbt_only"), part, tmp_path / "b"
    )
    record = np.load(hbt_only_result.directory / "stats.npz")["0"]
    # The runtime recorded the start (flat, zero equity) and the end: PnL, trades and fees hold.
    assert hbt_only_result.provenance["recorded_by"] == "runtime (start and end)"
    assert len(record) == 2 and record["num_trades"].tolist() == [0, 1]
    assert hbt_only_result.metrics["trades"] == 1 and hbt_only_result.metrics["fees"] > 0
    final = record[-1]
    assert hbt_only_result.metrics["pnl"] == pytest.approx(
        final["balance"] + final["position"] * final["price"] - final["fee"]
    )

    engine_values = _run(
        _config(
            "support.strategies_for_tests:tutorial_stat_and_engine_values", interval=100_000_000
        ),
        part,
        tmp_path / "c",
    )
    # A number returned is stored, in result.json and as a file that enters the content hash.
    output = engine_values.provenance["strategy_output"]
    assert output["value"] == (80000 - 40000) / 0.5 and output["shape"] == []
    assert np.load(engine_values.directory / STRATEGY_OUTPUT_FILE) == 80000.0


def test_recorder_last_matches_the_notebook_way(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    """The runtime's result equals calling the function as the tutorial does: the asset built
    with hftbacktest directly, a Recorder, ``strategy(hbt, order_qty, recorder.recorder)``."""
    part = generated_parts[1]
    config = _config("support.strategies_for_tests:tutorial_recorder_last", order_qty=0.1)
    result = _run(config, part, tmp_path / "out")

    asset = (
        BacktestAsset()
        .data([str(part)])
        .linear_asset(1.0)
        .constant_order_latency(10_000_000, 10_000_000)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0005)
        .tick_size(0.5)
        .lot_size(0.01)
        .roi_lb(40000)
        .roi_ub(80000)
        .last_trades_capacity(10)
    )
    hbt = ROIVectorMarketDepthBacktest([asset])
    recorder = Recorder(1, 1_000_000)
    out = tutorial_recorder_last(hbt, 0.1, recorder.recorder)
    hbt.close()

    record = np.load(result.directory / "stats.npz")["0"]
    assert record.tobytes() == recorder.get(0).tobytes()
    stored = result.directory / STRATEGY_OUTPUT_FILE
    assert np.array_equal(np.load(stored), out) and out.shape[1] == 3 and len(out) > 100
    # Listed with its sha256 and hashed raw into the content hash.
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    assert result.provenance["files"][STRATEGY_OUTPUT_FILE] == digest
    assert result.provenance["canonical_files"][STRATEGY_OUTPUT_FILE] == digest
    assert result.provenance["strategy_output"] == {
        "file": STRATEGY_OUTPUT_FILE,
        "dtype": "<f8",
        "shape": list(out.shape),
    }


def test_what_a_strategy_returns_is_stored_when_it_is_data(tmp_path: Path) -> None:
    for ending in (None, True, False, np.True_, 0, 1, np.int64(1)):
        assert save_strategy_output(ending, tmp_path) is None, ending
    assert list(tmp_path.iterdir()) == []
    # A code of hftbacktest's errors still fails the part; another integer is data.
    with pytest.raises(EngineError, match=r"error code 12 \(OrderNotFound\)"):
        check_strategy_return("p", np.int64(12))
    check_strategy_return("p", 42)

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    diagnostics = np.arange(12.0).reshape(4, 3)
    for out in (first, second):
        assert save_strategy_output(diagnostics, out) == {
            "file": STRATEGY_OUTPUT_FILE,
            "dtype": "<f8",
            "shape": [4, 3],
        }
    assert (first / STRATEGY_OUTPUT_FILE).read_bytes() == (
        second / STRATEGY_OUTPUT_FILE
    ).read_bytes()

    number = tmp_path / "n"
    number.mkdir()
    assert save_strategy_output(42, number) == {
        "file": STRATEGY_OUTPUT_FILE,
        "dtype": "<i8",
        "shape": [],
        "value": 42,
    }
    pair = tmp_path / "pair"
    pair.mkdir()
    summary = save_strategy_output((np.ones(3), 2.5), pair)
    assert summary == {
        "file": STRATEGY_OUTPUTS_FILE,
        "items": [{"dtype": "<f8", "shape": [3]}, {"dtype": "<f8", "shape": [], "value": 2.5}],
    }
    with np.load(pair / STRATEGY_OUTPUTS_FILE) as archive:
        assert archive["1"] == 2.5 and archive["0"].tolist() == [1.0, 1.0, 1.0]
    for other in ("text", {"a": 1}, (np.ones(2), "x"), np.array([object()])):
        with pytest.raises(EngineError, match="the runtime stores an array, a number or a tuple"):
            save_strategy_output(other, tmp_path)


def test_signatures_that_cannot_be_called_by_position_are_refused() -> None:
    def keyword_only(hbt, recorder, *, skew):  # type: ignore[no-untyped-def]
        return None

    def variadic(hbt, *args):  # type: ignore[no-untyped-def]
        return None

    config = _config("support.strategies_for_tests:tutorial_recorder_second")
    for function in (keyword_only, variadic):
        with pytest.raises(StrategyLoadError, match="all parameters positional"):
            bind_strategy(function, config, 0)


def test_a_mistyped_strategy_parameter_gets_a_suggestion() -> None:
    def mm(hbt, recorder, half_spread, order_qty, end_ts, tick_size, skew=0.5):  # type: ignore[no-untyped-def]
        return None

    config = _config(
        "support.strategies_for_tests:tutorial_recorder_last", half_sprad=2.0, order_qty=1
    )
    with pytest.raises(StrategyLoadError) as excinfo:
        bind_strategy(mm, config, end_ts=99)
    message = str(excinfo.value)
    assert message.startswith(
        "strategy 'support.strategies_for_tests:tutorial_recorder_last'(hbt, recorder, half_spread,"
        " order_qty, end_ts, tick_size, skew): strategy.half_sprad is not a parameter (did you"
        " mean strategy.half_spread?); half_spread is missing. Binding: "
    )
    # Only parameters the config may set are suggested; nothing close: no suggestion.
    for typo in ("end_tss", "tick_sizes", "recorders", "zzz"):
        config = _config(
            "support.strategies_for_tests:tutorial_recorder_last",
            half_spread=1.0,
            order_qty=1,
            **{typo: 1},
        )
        with pytest.raises(StrategyLoadError) as excinfo:
            bind_strategy(mm, config, end_ts=99)
        assert f"strategy.{typo} is not a parameter" in str(excinfo.value)
        assert "did you mean" not in str(excinfo.value), typo
    config = _config(
        "support.strategies_for_tests:tutorial_recorder_last", half_spread=1.0, order_qty=1, skw=0.1
    )
    with pytest.raises(
        StrategyLoadError,
        match=r"strategy\.skw is not a parameter \(did you mean strategy\.skew\?\)",
    ):
        bind_strategy(mm, config, end_ts=99)


def test_a_mistyped_override_of_a_set_parameter_names_it() -> None:
    """The sweep's check (``argo render``) reports the binding's problem, suggestion included."""
    from trading_runtime.argo.sweep import strategy_parameter_problem

    example = parse_config(json.loads(example_config_path("hftbacktest").read_text()))
    typo = apply_overrides(example, {"strategy.quote_ofset_ticks": 2})
    problem = strategy_parameter_problem(typo)
    assert problem is not None
    assert (
        "strategy.quote_ofset_ticks is not a parameter (did you mean strategy.quote_offset_ticks?)"
        in problem
    )
