"""The trading-platform adapter: mapping against a stand-in, and the real framework when present.

The tests marked ``framework`` need trading-platform importable: without it they skip; where it is
importable none of them may skip (a skip fails); with TRADING_RUNTIME_REQUIRE_FRAMEWORK=1 they fail
without it (tests/support/framework.py, tests/test_framework_marker.py).
"""

import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hftbacktest.types import record_dtype
from support.framework import framework_installed

from trading_runtime.adapters import EngineError, EngineNotInstalledError
from trading_runtime.adapters.framework_fixes import applied_framework_fixes
from trading_runtime.adapters.trading_platform import (
    TradingPlatformAdapter,
    build_framework_config,
    deterministic_order_snapshots,
    framework_engine_fields,
    import_framework,
)
from trading_runtime.backtest.execute import execute_backtest
from trading_runtime.backtest.fan_out import backtest_part, prepare_out_dir
from trading_runtime.config import (
    FRAMEWORK_FIXES,
    BacktestConfig,
    ConfigError,
    LogProbQueue,
    apply_overrides,
    example_config_path,
    load_config,
    parse_config,
)
from trading_runtime.data.validate import validate_part
from trading_runtime.layout import EVENT_LOG_FILE
from trading_runtime.pins import framework_pin
from trading_runtime.results import canonical_record, canonical_steps

# Framework tests (``framework`` marker) skip without it, and may not skip where it is importable:
# tests/support/framework.py (TRADING_RUNTIME_REQUIRE_FRAMEWORK=1 fails them without it).
FRAMEWORK_INSTALLED = framework_installed()


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
    mapped = build_framework_config(framework, config, ["/parts/part-1.npz"], tmp_path)
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
    tmp_path: Path,
    generated_parts: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    stand_in: list[Any],
) -> None:
    calls = stand_in
    # The pin in the environment is not proof of what is installed: no git install, no SHA.
    monkeypatch.setenv("TRADING_PLATFORM_COMMIT", framework_pin().commit)
    config = load_config(example_config_path("trading-platform"))
    out = tmp_path / "out"
    out.mkdir()
    output = TradingPlatformAdapter().backtest_in_process(
        config, validate_part(generated_parts[0]), out
    )
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
        backtest_part(config, generated_parts[0], tmp_path / "out", timeout_s=60, pool=pool)
    message = str(excinfo.value)
    pin = framework_pin()
    assert f"git+{pin.repository}@{pin.commit}" in message
    assert "never `pip install trading-platform`" in message


@pytest.mark.framework
def test_framework_backtest_end_to_end(
    tmp_path: Path, generated_parts: list[Path], pool: Any
) -> None:
    config = load_config(example_config_path("trading-platform"))
    first = backtest_part(config, generated_parts[0], tmp_path / "a", timeout_s=600, pool=pool)
    second = backtest_part(config, generated_parts[0], tmp_path / "b", timeout_s=600, pool=pool)
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


# ---------------------------------------------------------------------------------------------
# engine.framework_fixes: patches around the framework's venue adapter and order state, tried on
# stand-ins with the same method names and the pinned framework's behaviour (our own code).
# ---------------------------------------------------------------------------------------------

ALL_FIXES = list(FRAMEWORK_FIXES)
SAMPLE_PART = Path(__file__).resolve().parents[1] / "data" / "parts" / "part-00000.npz"
# hftbacktest's codes (hftbacktest.order)
NONE, NEW, EXPIRED, FILLED, CANCELED, PARTIALLY_FILLED = 0, 1, 2, 3, 4, 5
GTC, GTX, FOK, IOC = 0, 1, 2, 3


def _order(order_id: int, **fields: Any) -> types.SimpleNamespace:
    """An order as hftbacktest's order map holds it: acknowledged and resting by default."""
    values = {
        "order_id": order_id, "order_type": 0, "side": 1, "time_in_force": GTX, "req": NONE,
        "status": NEW, "price": 100.0, "exec_price": 0.0, "qty": 0.1, "exec_qty": 0.0,
        "leaves_qty": 0.1, "exch_timestamp": 2_000, "local_timestamp": 1_000,
    }  # fmt: skip
    return types.SimpleNamespace(**(values | fields))


class _OrderValues:
    """hftbacktest's order-map iterator (has_next/get)."""

    def __init__(self, orders: list[Any]) -> None:
        self._orders = orders

    def has_next(self) -> bool:
        return bool(self._orders)

    def get(self) -> Any:
        return self._orders.pop(0)


class _StandInHbt:
    """The part of hftbacktest's backtester the framework's venue adapter uses; ``orders`` is a
    live view of the map, as in hftbacktest."""

    def __init__(self, orders: list[Any], codes: tuple[int, ...] = ()) -> None:
        self.live = {order.order_id: order for order in orders}
        self.codes = list(codes)
        self.current_timestamp = 5_000
        self.clear_calls = 0

    def orders(self, asset_no: int) -> Any:
        return types.SimpleNamespace(values=lambda: _OrderValues(list(self.live.values())))

    def state_values(self, asset_no: int) -> Any:
        return types.SimpleNamespace(position=0.0, balance=0.0)

    def clear_inactive_orders(self, asset_no: int) -> None:
        self.clear_calls += 1
        self.live = {
            key: order
            for key, order in self.live.items()
            if order.status not in (EXPIRED, FILLED, CANCELED)
        }

    def wait_next_feed(self, include_order_resp: bool, timeout: int) -> int:
        return self.codes.pop(0) if self.codes else 1


@dataclass(frozen=True)
class _StandInVenue:
    """The framework's HftBacktestVenueAdapter: the methods the fixes wrap."""

    hbt: Any
    asset_no: int

    def wait_next(self, *, timeout_ns: int, include_order_resp: bool) -> int:
        return int(self.hbt.wait_next_feed(include_order_resp, timeout_ns))

    def current_timestamp_ns(self) -> int:
        return int(self.hbt.current_timestamp)

    def read_orders_snapshot(self) -> tuple[Any, Any]:
        return self.hbt.state_values(self.asset_no), self.hbt.orders(self.asset_no)


class _StandInState:
    """The framework's StrategyState as far as order snapshots go, with the pinned commit's
    readings: status 2 as partially filled and 5 as expired, time in force 1 as IOC and 3 as
    post-only, and an exchange timestamp that must be positive."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []

    def ingest_order_snapshots(self, instrument: str, orders: Any) -> None:
        def map_status(status: int, req: int, order_id: Any) -> str:
            terminal = {3: "filled", 4: "canceled", 5: "expired"}
            if status in terminal:
                return terminal[status]
            if req != 0:
                return "pending_new"
            return {0: "accepted", 1: "working", 2: "partially_filled"}.get(status, "rejected")

        if hasattr(orders, "has_next"):  # hftbacktest's iterator, or a list (sorted snapshot)
            orders = iter(lambda: orders.get() if orders.has_next() else None, None)
        for order in orders:
            self._ingest_one_hft_order(instrument, order, map_status)

    def _ingest_one_hft_order(self, instrument: str, order: Any, map_status: Any) -> None:
        if order.exch_timestamp <= 0:
            raise ValueError("ts_ns_exch: Input should be greater than 0")
        tif = {0: "GTC", 1: "IOC", 2: "FOK", 3: "POST_ONLY"}.get(order.time_in_force, "GTC")
        event = {
            "client_order_id": str(order.order_id),
            "state_type": map_status(order.status, order.req, order.order_id),
            "time_in_force": tif,
            "ts_ns_exch": order.exch_timestamp,
            "ts_ns_local": order.local_timestamp,
            "raw": {"status": order.status, "req": order.req},
        }
        self.events.append(event)
        bucket = self.orders.setdefault(instrument, {})
        if event["state_type"] in ("filled", "canceled", "expired", "rejected"):
            bucket.pop(event["client_order_id"], None)
        else:
            bucket[event["client_order_id"]] = event


def _stand_in_internals(framework: types.ModuleType) -> dict[str, types.ModuleType]:
    """The framework's modules the fixes (and the sorted snapshots) patch, under the real names."""
    venue = types.ModuleType("trading_platform.backtest.adapters.venue")
    venue.HftBacktestVenueAdapter = _StandInVenue  # type: ignore[attr-defined]
    state = types.ModuleType("trading_platform.core.domain.state")
    state.StrategyState = _StandInState  # type: ignore[attr-defined]
    modules = {"trading_platform": framework}
    for name in ("backtest", "backtest.adapters", "core", "core.domain"):
        modules[f"trading_platform.{name}"] = types.ModuleType(f"trading_platform.{name}")
    modules[venue.__name__] = venue
    modules[state.__name__] = state
    return modules


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The stand-in framework with its venue and state modules importable; returns its calls."""
    calls: list[Any] = []
    for name, module in _stand_in_internals(_stand_in_framework(calls)).items():
        monkeypatch.setitem(sys.modules, name, module)
    # A fresh class per test: a patch left behind would show in the next test.
    yield calls
    assert _StandInVenue.read_orders_snapshot.__name__ == "read_orders_snapshot"
    assert _StandInState._ingest_one_hft_order.__name__ == "_ingest_one_hft_order"


def _ingest(orders: list[Any], fixes: list[str]) -> tuple[_StandInState, _StandInHbt]:
    """One order response as the framework's loop handles it: snapshot, then ingest."""
    hbt = _StandInHbt(orders)
    state = _StandInState()
    with deterministic_order_snapshots(), applied_framework_fixes(fixes):
        _, snapshot = _StandInVenue(hbt, 0).read_orders_snapshot()
        state.ingest_order_snapshots("X", snapshot.values())
    return state, hbt


def _states(state: _StandInState) -> dict[str, str]:
    return {event["client_order_id"]: event["state_type"] for event in state.events}


def test_no_fixes_patch_nothing(stand_in: list[Any]) -> None:
    methods = (_StandInVenue.wait_next, _StandInVenue.read_orders_snapshot)
    ingest = _StandInState._ingest_one_hft_order
    with applied_framework_fixes(()) as applied:
        assert applied == ()
        assert (_StandInVenue.wait_next, _StandInVenue.read_orders_snapshot) == methods
        assert _StandInState._ingest_one_hft_order is ingest
    with applied_framework_fixes(list(reversed(ALL_FIXES))) as applied:
        assert applied == tuple(ALL_FIXES)  # always in one order
        assert _StandInVenue.wait_next is not methods[0]
        assert _StandInState._ingest_one_hft_order is not ingest
    assert (_StandInVenue.wait_next, _StandInVenue.read_orders_snapshot) == methods
    assert _StandInState._ingest_one_hft_order is ingest


def test_clear_inactive_orders_after_the_framework_read_them(stand_in: list[Any]) -> None:
    orders = [_order(1, status=FILLED, exec_qty=0.1, leaves_qty=0.0), _order(2)]
    state, hbt = _ingest(orders, [])
    assert _states(state) == {"1": "filled", "2": "working"}
    assert (hbt.clear_calls, sorted(hbt.live)) == (0, [1, 2])  # the filled order stays: id 1 taken

    state, hbt = _ingest(orders, ["clear_inactive_orders"])
    assert _states(state) == {"1": "filled", "2": "working"}  # seen once before it went
    assert (hbt.clear_calls, sorted(hbt.live)) == (1, [2])


def test_clear_inactive_orders_refuses_a_live_snapshot(stand_in: list[Any]) -> None:
    # Without the copied snapshot the framework would iterate a map cleared under it.
    with applied_framework_fixes(["clear_inactive_orders"]), pytest.raises(EngineError) as excinfo:
        _StandInVenue(_StandInHbt([_order(1)]), 0).read_orders_snapshot()
    assert "copied orders snapshot" in str(excinfo.value)


def test_status_codes(stand_in: list[Any]) -> None:
    orders = [_order(1, status=EXPIRED), _order(2, status=PARTIALLY_FILLED, exec_qty=0.05)]
    state, _ = _ingest(orders, [])
    assert _states(state) == {"1": "partially_filled", "2": "expired"}  # the pinned reading
    assert list(state.orders["X"]) == ["1"]  # the expired order kept as working, the live one gone

    state, _ = _ingest(orders, ["hftbacktest_status_codes"])
    assert _states(state) == {"1": "expired", "2": "partially_filled"}
    assert list(state.orders["X"]) == ["2"]
    assert [event["raw"]["status"] for event in state.events] == [EXPIRED, PARTIALLY_FILLED]
    # The other codes read as before.
    others = [_order(3, status=NEW), _order(4, status=FILLED), _order(5, status=CANCELED)]
    assert _states(_ingest(others, ["hftbacktest_status_codes"])[0]) == _states(
        _ingest(others, [])[0]
    )


def test_time_in_force_codes(stand_in: list[Any]) -> None:
    orders = [_order(i + 1, time_in_force=code) for i, code in enumerate((GTC, GTX, FOK, IOC))]

    def labels(fixes: list[str]) -> list[str]:
        return [event["time_in_force"] for event in _ingest(orders, fixes)[0].events]

    assert labels([]) == ["GTC", "IOC", "FOK", "POST_ONLY"]
    assert labels(["hftbacktest_time_in_force"]) == ["GTC", "POST_ONLY", "FOK", "IOC"]


def test_unacknowledged_orders(stand_in: list[Any]) -> None:
    pending = _order(1, status=NONE, req=NEW, exch_timestamp=0, local_timestamp=1_000)
    with pytest.raises(ValueError, match="greater than 0"):
        _ingest([pending, _order(2)], [])

    state, _ = _ingest([pending, _order(2)], ["unacknowledged_orders"])
    event = state.events[0]
    assert (event["state_type"], event["ts_ns_exch"], event["ts_ns_local"]) == (
        "pending_new", 1_000, 1_000,
    )  # fmt: skip
    assert sorted(state.orders["X"]) == ["1", "2"]  # counted while it is on its way
    # Refused by the exchange before it was acknowledged: hftbacktest marks it expired and keeps
    # exch_timestamp 0; with the status fix it ends, so its slot is free again.
    refused = _order(1, status=EXPIRED, exch_timestamp=0)
    state, _ = _ingest([refused], ["hftbacktest_status_codes", "unacknowledged_orders"])
    assert _states(state) == {"1": "expired"} and state.orders["X"] == {}
    # Acknowledged orders keep their exchange timestamp.
    assert _ingest([_order(3)], ["unacknowledged_orders"])[0].events[0]["ts_ns_exch"] == 2_000


def test_error_codes_end_the_backtest(stand_in: list[Any]) -> None:
    venue = _StandInVenue(_StandInHbt([], codes=(2, 14)), 0)
    with applied_framework_fixes(["hftbacktest_error_codes"]):
        assert venue.wait_next(timeout_ns=1, include_order_resp=True) == 2
        with pytest.raises(EngineError) as excinfo:
            venue.wait_next(timeout_ns=1, include_order_resp=True)
    message = str(excinfo.value)
    assert "error code 14 (InvalidOrderStatus)" in message and "at 5000" in message
    assert "partial_fill_venue: false" in message
    # Off: the code goes back to the framework's loop, which takes it for one more step.
    venue = _StandInVenue(_StandInHbt([], codes=(14,)), 0)
    assert venue.wait_next(timeout_ns=1, include_order_resp=True) == 14


def test_a_fix_for_a_method_the_framework_lacks_fails_clearly(
    stand_in: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "trading_platform.core.domain.state")
    monkeypatch.setitem(sys.modules, "trading_platform.core.domain.state", None)  # not importable
    with pytest.raises(EngineError) as excinfo, applied_framework_fixes(ALL_FIXES):
        pass
    message = str(excinfo.value)
    assert "'hftbacktest_status_codes'" in message
    assert "trading_platform.core.domain.state.StrategyState._ingest_one_hft_order" in message
    # The venue fixes applied before it are undone.
    assert _StandInVenue.read_orders_snapshot.__name__ == "read_orders_snapshot"


def test_adapter_applies_the_configured_fixes_and_records_them(
    tmp_path: Path, generated_parts: list[Path], stand_in: list[Any]
) -> None:
    config = load_config(example_config_path("trading-platform"))
    assert config.engine.framework_fixes == tuple(ALL_FIXES)  # the example turns them all on
    framework = sys.modules["trading_platform"]
    seen: list[Any] = []
    engine_class = framework.HftBacktestEngine

    class Engine(engine_class):  # type: ignore[misc, valid-type]
        def run(self) -> Any:
            seen.append(
                (_StandInVenue.wait_next.__name__, _StandInState._ingest_one_hft_order.__name__)
            )
            return super().run()

    framework.HftBacktestEngine = Engine
    part = validate_part(generated_parts[0])
    document = execute_backtest(config, part, prepare_out_dir(tmp_path / "fixed"))
    assert document["provenance"]["framework_fixes"] == ALL_FIXES
    assert seen == [("wait_next_or_fail", "ingest")]  # patched while the framework ran
    assert _StandInVenue.wait_next.__name__ == "wait_next"  # and restored afterwards
    # The mapped engine config never carries them: the framework's HftEngineConfig has no field.
    assert not hasattr(stand_in[-1].engine_cfg, "framework_fixes")

    plain = apply_overrides(config, {"engine.framework_fixes": []})
    document = execute_backtest(plain, part, prepare_out_dir(tmp_path / "plain"))
    assert document["provenance"]["framework_fixes"] == []
    assert seen[-1] == ("wait_next", "_ingest_one_hft_order")


def test_framework_fixes_config() -> None:
    config = load_config(example_config_path("trading-platform"))
    raw = config.model_dump(mode="json")

    def with_fixes(fixes: Any, adapter: str = "trading-platform") -> BacktestConfig:
        return parse_config(
            {**raw, "adapter": adapter, "engine": {**raw["engine"], "framework_fixes": fixes}}
        )

    # Absent when empty: configs without fixes keep their hash.
    plain = with_fixes([])
    assert "framework_fixes" not in plain.canonical_json()
    assert plain.config_hash() == parse_config({**raw, "engine": {
        k: v for k, v in raw["engine"].items() if k != "framework_fixes"
    }}).config_hash()  # fmt: skip
    # In the hash when set; the order they are listed in does not matter.
    assert with_fixes(["unacknowledged_orders"]).config_hash() != plain.config_hash()
    assert (
        with_fixes(list(reversed(ALL_FIXES))).config_hash() == with_fixes(ALL_FIXES).config_hash()
    )
    with pytest.raises(ConfigError) as excinfo:
        with_fixes(["clear_inactive_orders", "status_codes"])
    assert "engine.framework_fixes: unknown fix(es) 'status_codes'; known fixes: " + ", ".join(
        ALL_FIXES
    ) in str(excinfo.value)
    with pytest.raises(ConfigError, match="'clear_inactive_orders' listed more than once"):
        with_fixes(["clear_inactive_orders", "clear_inactive_orders"])
    with pytest.raises(ConfigError, match="adapter 'hftbacktest' does not run it"):
        with_fixes(["clear_inactive_orders"], adapter="hftbacktest")
    with pytest.raises(ConfigError, match="engine.framework_fixes"):
        with_fixes("clear_inactive_orders")


def test_hftbacktest_partial_fill_exchange_fails_after_an_exact_fill() -> None:
    """Why hftbacktest_error_codes names partial_fill_venue: hftbacktest 2.4.4's partial-fill
    exchange leaves an order that a trade filled exactly in its book, and the next trade at its
    price fails with InvalidOrderStatus (14) on every later step; the no-partial-fill exchange
    does not. Fails (and can go) once hftbacktest fixes it."""
    from hftbacktest import GTX as HBT_GTX
    from hftbacktest import LIMIT, BacktestAsset, ROIVectorMarketDepthBacktest
    from hftbacktest.types import (
        BUY_EVENT,
        DEPTH_EVENT,
        EXCH_EVENT,
        LOCAL_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
        event_dtype,
    )  # fmt: skip

    both = EXCH_EVENT | LOCAL_EVENT
    rows = [  # a book 100 / 101, then two sell trades of the order's size at the order's price
        (DEPTH_EVENT | both | BUY_EVENT, 1_000_000_000, 100.0, 1.0),
        (DEPTH_EVENT | both | SELL_EVENT, 1_000_000_000, 101.0, 1.0),
        (TRADE_EVENT | both | SELL_EVENT, 1_001_000_000, 100.5, 0.1),
        (TRADE_EVENT | both | SELL_EVENT, 1_002_000_000, 100.5, 0.1),
    ]
    data = np.zeros(len(rows), event_dtype)
    for i, (ev, ts, px, qty) in enumerate(rows):
        data[i]["ev"], data[i]["exch_ts"], data[i]["local_ts"] = ev, ts, ts + 1
        data[i]["px"], data[i]["qty"] = px, qty

    def codes(partial_fills: bool) -> list[int]:
        asset = (
            BacktestAsset().data([data]).linear_asset(1.0).constant_order_latency(10, 10)
            .tick_size(0.5).lot_size(0.01).trading_value_fee_model(0.0, 0.0)
            .risk_adverse_queue_model().roi_lb(0).roi_ub(200)
        )  # fmt: skip
        asset = asset.partial_fill_exchange() if partial_fills else asset.no_partial_fill_exchange()
        hbt = ROIVectorMarketDepthBacktest([asset])
        assert hbt.elapse(100) == 0
        assert hbt.submit_buy_order(0, 1, 100.5, 0.1, HBT_GTX, LIMIT, False) == 0
        found = [int(hbt.elapse(1_000_000)) for _ in range(3)]
        assert hbt.position(0) == pytest.approx(0.1)  # the first trade filled the order
        hbt.close()
        return found

    assert codes(partial_fills=True) == [0, 14, 14]
    assert codes(partial_fills=False) == [0, 1, 1]  # 1: the end of the data


@pytest.mark.framework
def test_framework_fixes_on_the_sample_part(tmp_path: Path) -> None:
    """No fixes: the runtime's result is the framework's own (a direct HftBacktestEngine run).
    All fixes: the same part trades many times (the example quotes one tick off the touch; two
    ticks off trades a few times either way on this part)."""
    framework = import_framework()
    part = validate_part(SAMPLE_PART)
    example = load_config(example_config_path("trading-platform"))
    fixed = example
    assert fixed.strategy.params["half_spread_ticks"] == 1
    plain = apply_overrides(fixed, {"engine.framework_fixes": []})
    steps = canonical_steps(plain.engine)

    direct_dir = tmp_path / "direct"
    direct_dir.mkdir()
    direct_config = build_framework_config(framework, plain, [part.path], direct_dir)
    framework.HftBacktestEngine(direct_config).run()
    with np.load(direct_config.engine_cfg.stats_npz_path) as archive:
        direct = archive["0"]

    document = execute_backtest(plain, part, prepare_out_dir(tmp_path / "plain"))
    with np.load(tmp_path / "plain" / "stats.npz") as archive:
        record = archive["0"]
    assert document["provenance"]["framework_fixes"] == []
    assert np.array_equal(canonical_record(record, steps), canonical_record(direct, steps))
    assert document["metrics"]["trades"] <= 5

    document = execute_backtest(fixed, part, prepare_out_dir(tmp_path / "fixed"))
    assert document["provenance"]["framework_fixes"] == ALL_FIXES
    assert document["metrics"]["trades"] >= 50
