"""The trading-platform adapter: mapping against a stand-in, and the real framework when present."""

import importlib.util
import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hftbacktest.types import record_dtype

from trading_runtime.adapters import EngineNotInstalledError
from trading_runtime.adapters.trading_platform_adapter import (
    TradingPlatformAdapter,
    build_framework_config,
    framework_engine_fields,
)
from trading_runtime.batch import run_backtest
from trading_runtime.config import LogProbQueue, example_config_path, load_config
from trading_runtime.data.validate import validate_part
from trading_runtime.layout import EVENT_LOG_FILE
from trading_runtime.pins import framework_pin

FRAMEWORK_INSTALLED = importlib.util.find_spec("trading_platform") is not None


def _stand_in_framework(calls: list[Any]) -> types.ModuleType:
    """A module with the framework's public names, recording what the adapter passes."""
    module = types.ModuleType("trading_platform")

    @dataclass
    class HftEngineConfig:
        initial_snapshot: Any
        data_files: list[str]
        instrument: str
        tick_size: float
        lot_size: float
        contract_size: float
        maker_fee_rate: float
        taker_fee_rate: float
        entry_latency_ns: int
        response_latency_ns: int
        use_risk_adverse_queue_model: bool
        partial_fill_venue: bool
        max_steps: int
        last_trades_capacity: int
        max_price_tick_levels: int
        roi_lb: float
        roi_ub: float
        stats_npz_path: str
        event_bus_path: str

    @dataclass
    class StrategyConfig:
        class_path: str
        params: dict[str, Any] = field(default_factory=dict)

        def __init__(self, class_path: str, **params: Any) -> None:
            self.class_path = class_path
            self.params = params

    class RiskConfig:
        def __init__(self, **kwargs: Any) -> None:
            if "notional_limits" not in kwargs:
                raise ValueError("notional_limits is required")
            self.kwargs = kwargs

    @dataclass
    class HftBacktestConfig:
        id: str
        description: str
        engine_cfg: HftEngineConfig
        strategy_cfg: StrategyConfig
        risk_cfg: RiskConfig

    @dataclass
    class BacktestResult:
        id: str
        stats_file: str | None = None
        extra_metadata: dict[str, Any] | None = None

    class HftBacktestEngine:
        def __init__(self, cfg: HftBacktestConfig) -> None:
            self.cfg = cfg

        def run(self) -> BacktestResult:
            calls.append(self.cfg)
            record = np.zeros(3, dtype=record_dtype)
            record["timestamp"] = [1, 2, 3]
            record["price"] = 100.0
            np.savez_compressed(self.cfg.engine_cfg.stats_npz_path, **{"0": record})
            with open(self.cfg.engine_cfg.event_bus_path, "a") as handle:
                handle.write('{"event": "stand-in"}\n')
            return BacktestResult(self.cfg.id, self.cfg.engine_cfg.stats_npz_path, {})

    for item in (
        HftEngineConfig,
        StrategyConfig,
        RiskConfig,
        HftBacktestConfig,
        BacktestResult,
        HftBacktestEngine,
    ):
        setattr(module, item.__name__, item)
    return module


def test_config_maps_onto_framework_types(tmp_path: Path) -> None:
    config = load_config(example_config_path("trading-platform"))
    framework = _stand_in_framework([])
    mapped = build_framework_config(framework, config, "/parts/part-1.npz", tmp_path)
    engine = mapped.engine_cfg
    assert engine.data_files == ["/parts/part-1.npz"]
    assert Path(engine.event_bus_path) == tmp_path / EVENT_LOG_FILE
    assert Path(engine.stats_npz_path).parent == tmp_path
    # Field by field from the new engine section, exactly the framework's fields.
    assert {
        name: getattr(engine, name)
        for name in vars(engine)
        if name not in ("data_files", "stats_npz_path", "event_bus_path")
    } == {
        "instrument": "BTC_USDC-PERPETUAL",
        "tick_size": 0.5,
        "lot_size": 0.01,
        "contract_size": 1.0,
        "maker_fee_rate": 0.0,
        "taker_fee_rate": 0.0005,
        "entry_latency_ns": 10_000_000,
        "response_latency_ns": 10_000_000,
        "use_risk_adverse_queue_model": True,
        "partial_fill_venue": True,
        "max_steps": 1_000_000,
        "last_trades_capacity": 10,
        "max_price_tick_levels": 20,
        "roi_lb": 40000.0,
        "roi_ub": 80000.0,
        "initial_snapshot": None,
    }
    # hftbacktest's default queue model is what the framework uses when the flag is off.
    log_prob2 = config.model_copy(
        update={
            "engine": config.engine.model_copy(
                update={"queue_model": LogProbQueue(type="log_prob2")}
            )
        }
    )
    assert framework_engine_fields(log_prob2)["use_risk_adverse_queue_model"] is False
    assert mapped.id == config.id and mapped.description == config.description
    assert mapped.strategy_cfg.class_path == config.strategy.class_path
    assert mapped.strategy_cfg.params == config.strategy.params
    risk = mapped.risk_cfg.kwargs
    assert risk["scope"] == config.risk.scope
    assert risk["notional_limits"]["max_gross_notional"] == 200000.0
    assert risk["extra"] == {
        "venue_policy": {"min_order_notional": 5.0, "post_only_mode": "reject"}
    }
    assert "rolling_loss" in risk["max_loss"]


def test_adapter_runs_stand_in_and_normalizes_output(
    tmp_path: Path, generated_parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setitem(sys.modules, "trading_platform", _stand_in_framework(calls))
    # The pin in the environment is not proof of what is installed: no git install, no SHA.
    monkeypatch.setenv("TRADING_PLATFORM_COMMIT", framework_pin().commit)
    config = load_config(example_config_path("trading-platform"))
    out = tmp_path / "out"
    out.mkdir()
    output = TradingPlatformAdapter().run_inline(config, validate_part(generated_parts[0]), out)
    assert len(calls) == 1
    assert sorted(p.name for p in out.iterdir()) == ["events.jsonl", "stats.npz"]
    assert output.framework_sha is None
    assert output.event_log_path == out / EVENT_LOG_FILE
    assert np.load(output.stats_path)["0"].dtype == record_dtype


@pytest.mark.skipif(FRAMEWORK_INSTALLED, reason="the framework is installed here")
def test_without_the_framework_the_error_says_how_to_install(
    tmp_path: Path, generated_parts: list[Path], pool: Any
) -> None:
    config = load_config(example_config_path("trading-platform"))
    with pytest.raises(EngineNotInstalledError) as excinfo:
        run_backtest(config, generated_parts[0], tmp_path / "out", 60, pool)
    message = str(excinfo.value)
    pin = framework_pin()
    assert f"git+{pin.repository}@{pin.commit}" in message
    assert "never `pip install trading-platform`" in message


@pytest.mark.framework
@pytest.mark.skipif(not FRAMEWORK_INSTALLED, reason="trading-platform is not installed")
def test_framework_backtest_end_to_end(
    tmp_path: Path, generated_parts: list[Path], pool: Any
) -> None:
    config = load_config(example_config_path("trading-platform"))
    first = run_backtest(config, generated_parts[0], tmp_path / "a", 600, pool)
    second = run_backtest(config, generated_parts[0], tmp_path / "b", 600, pool)
    assert first.provenance["engine"] == "trading-platform"
    # The commit pip recorded for a git install, never assumed from the pin.
    assert first.provenance["framework_sha"] in (None, framework_pin().commit)
    assert (first.directory / "stats.npz").is_file()
    assert first.metrics["records"] > 0
    assert (
        json.loads((first.directory / "result.json").read_text())["provenance"] == first.provenance
    )
    # Same inputs, same bytes: the fresh output directory keeps the event log from appending.
    assert first.content_hash == second.content_hash
