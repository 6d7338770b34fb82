import json
from pathlib import Path

import pytest
from conftest import write_config

from trading_runtime.config import (
    ConfigError,
    apply_overrides,
    example_config_path,
    load_config,
    parse_config,
)
from trading_runtime.settings import load_settings


@pytest.mark.parametrize("adapter", ["hftbacktest", "trading-platform"])
def test_example_configs_load(adapter: str) -> None:
    config = load_config(example_config_path(adapter))
    assert config.adapter == adapter
    assert config.strategy.class_path.startswith("trading_runtime.strategies.")
    assert config.strategy.params  # flat keys became parameters
    assert "class_path" not in config.strategy.params


def test_flat_strategy_keys_become_params() -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    config = parse_config(raw)
    assert config.strategy.params["quote_offset_ticks"] == 0
    assert config.strategy.params["interval_ns"] == 100_000_000


def test_unknown_key_names_file_and_field(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", engine__tick_sise=0.1)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert str(path) in message
    assert "engine.tick_sise: unknown key" in message


def test_wrong_type_and_missing_field_reported_together(tmp_path: Path) -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["engine"]["tick_size"] = "ten"
    del raw["risk"]["scope"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    message = str(excinfo.value)
    assert "engine.tick_size:" in message and "number" in message
    assert "risk.scope: missing field" in message


def test_paths_are_not_config(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", engine__data_files=["/data/part.npz"])
    with pytest.raises(ConfigError, match="data_files must not be in the config"):
        load_config(path)


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": ')
    with pytest.raises(ConfigError, match=r"broken.json: not valid JSON \(line 1"):
        load_config(broken)
    with pytest.raises(ConfigError, match="nope.json: file does not exist"):
        load_config(tmp_path / "nope.json")


def test_bad_class_path_shape(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", strategy__class_path="no_colon_here")
    with pytest.raises(ConfigError, match="strategy.class_path"):
        load_config(path)


def test_config_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    a = load_config(example_config_path("hftbacktest"))
    b = parse_config(
        json.loads(json.dumps(json.loads(example_config_path("hftbacktest").read_text())))
    )
    assert a.config_hash() == b.config_hash()
    changed = load_config(write_config(tmp_path / "c.json", strategy__quote_offset_ticks=3))
    assert changed.config_hash() != a.config_hash()


def test_settings_switch() -> None:
    assert load_settings({}).env == "local"
    with pytest.raises(
        ValueError, match="settings: TRADING_RUNTIME_RESULTS must be an object-store"
    ):
        load_settings({"TRADING_RUNTIME_ENV": "k8s"})
    k8s = load_settings({"TRADING_RUNTIME_ENV": "k8s", "TRADING_RUNTIME_RESULTS": "s3://b/r"})
    assert not k8s.is_local
    with pytest.raises(ValueError, match="TRADING_RUNTIME_ENV"):
        load_settings({"TRADING_RUNTIME_ENV": "laptop"})
    with pytest.raises(ValueError, match="k8s_job needs TRADING_RUNTIME_ENV=k8s"):
        load_settings({"TRADING_RUNTIME_EXECUTOR": "k8s_job"})
    pods = load_settings(
        {
            "TRADING_RUNTIME_ENV": "k8s",
            "TRADING_RUNTIME_RESULTS": "s3://b/r",
            "TRADING_RUNTIME_WORKERS": "4",
            "TRADING_RUNTIME_POD_MEMORY": "8Gi",
        }
    )
    assert pods.backtest_pod_resources() == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"memory": "8Gi"},
    }


def test_overrides_change_fields_and_name_bad_keys() -> None:
    base = load_config(example_config_path("hftbacktest"))
    swept = apply_overrides(
        base, {"strategy.quote_offset_ticks": 3, "engine.latency.entry_ns": 5}, "base.json"
    )
    assert swept.strategy.params["quote_offset_ticks"] == 3
    assert swept.engine.latency.entry_ns == 5  # type: ignore[union-attr]
    assert swept.config_hash() != base.config_hash()
    assert apply_overrides(base, {}).config_hash() == base.config_hash()
    with pytest.raises(
        ConfigError, match=r"base.json with overrides .*\n  engine.tick_sise: unknown"
    ):
        apply_overrides(base, {"engine.tick_sise": 1}, "base.json")
    with pytest.raises(ConfigError, match="engine.tick_size: Input should be a valid number"):
        apply_overrides(base, {"engine.tick_size": "wide"})
    with pytest.raises(ConfigError, match="'id.x': id is not a section of the config"):
        apply_overrides(base, {"id.x": 1})


def test_missing_class_path_and_param_conflicts(tmp_path: Path) -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    del raw["strategy"]["class_path"]
    with pytest.raises(ConfigError, match=r"strategy.class_path: missing field"):
        parse_config(raw, "c.json")
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["strategy"]["params"] = {"order_qty": 5}
    with pytest.raises(ConfigError, match=r"order_qty given both flat and under params"):
        parse_config(raw, "c.json")


def test_description_does_not_change_the_hash() -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    before = parse_config(raw).config_hash()
    raw["description"] = "reworded"
    assert parse_config(raw).config_hash() == before
    raw["id"] = "another_id"
    assert parse_config(raw).config_hash() != before


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("engine.fee_model.maker", float("nan"), "engine.fee_model.maker: Input should be a"),
        ("engine.depth.roi_ub", float("inf"), "engine.depth.roi_ub: Input should"),
        ("engine.tick_size", True, "engine.tick_size: Input should be a valid number"),
        ("engine.max_steps", "1000", "engine.max_steps: Input should be a valid integer"),
        ("engine.exchange", 1, "engine.exchange: Input should be 'no_partial_fill' or"),
        ("engine.latency.entry_ns", 2**64, "engine.latency.entry_ns: Input should be"),
        (
            "engine.depth.roi_ub",
            1e9,
            r"engine: .*roi_lb\.\.roi_ub \(40000\.\.1e\+09\) spans 2e\+09 price",
        ),
        ("strategy.order_qty", float("nan"), "strategy: .*params.order_qty = nan: numbers must"),
        ("risk.extra", {"a": [1, float("-inf")]}, r"risk.extra: .*extra.a\[1\] = -inf: numbers"),
    ],
)
def test_values_that_cannot_mean_anything_name_the_field(
    dotted: str, value: object, expected: str
) -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node[key]
    node[leaf] = value
    with pytest.raises(ConfigError, match=expected):
        parse_config(raw, "c.json")


def test_nan_in_a_json_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", engine__fee_model__taker=float("nan"))
    assert "NaN" in path.read_text()
    with pytest.raises(ConfigError, match="engine.fee_model.taker: Input should be a finite"):
        load_config(path)


def test_config_survives_the_trip_to_a_worker() -> None:
    """Workers receive the config as JSON: what they parse is the same config, same hash."""
    for adapter in ("hftbacktest", "trading-platform"):
        config = load_config(example_config_path(adapter))
        again = parse_config(json.loads(config.model_dump_json()), "<worker>")
        assert again == config and again.config_hash() == config.config_hash()


def _engine_config(engine: dict[str, object], adapter: str = "hftbacktest") -> dict[str, object]:
    raw = json.loads(example_config_path(adapter).read_text())
    raw["engine"] = engine
    return raw


def test_engine_defaults_are_hftbacktests() -> None:
    """Only the instrument grid and the depth have no hftbacktest default."""
    raw = _engine_config({"tick_size": 0.5, "lot_size": 0.01, "depth": {"type": "hash_map"}})
    engine = parse_config(raw).engine
    assert engine.model_dump(exclude={"tick_size", "lot_size", "depth"}) == {
        "instrument": None,
        "contract_size": 1.0,
        "queue_model": {"type": "log_prob2"},
        "latency": {"type": "constant", "entry_ns": 0, "response_ns": 0},
        "fee_model": {"type": "trading_value", "maker": 0.0, "taker": 0.0},
        "exchange": "no_partial_fill",
        "feed_latency_offset_ns": 0,
        "last_trades_capacity": 0,
        "max_steps": 1_000_000,
        "max_price_tick_levels": None,
        "initial_snapshot": None,
    }
    # Spelling a default out is the same config.
    spelled = _engine_config({**engine.model_dump(mode="json"), "tick_size": 0.5})
    assert parse_config(spelled).config_hash() == parse_config(raw).config_hash()
    del raw["engine"]["depth"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="engine.depth: missing field"):
        parse_config(raw, "c.json")


def test_old_engine_keys_are_refused_with_their_new_spelling() -> None:
    """0.2.0's flat keys: `use_risk_adverse_queue_model: false` silently meant hftbacktest's
    default queue model (log_prob2); now every choice is spelled and named."""
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["engine"].update(
        use_risk_adverse_queue_model=False,
        maker_fee_rate=-0.0001,
        taker_fee_rate=0.0005,
        entry_latency_ns=5,
        response_latency_ns=7,
        partial_fill_venue=True,
        roi_lb=1,
        roi_ub=2,
    )
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, "old.json")
    message = str(excinfo.value)
    for expected in (
        "use_risk_adverse_queue_model -> queue_model.type",
        '"queue_model": {"type": "log_prob2"}',
        '"fee_model": {"type": "trading_value", "maker": -0.0001, "taker": 0.0005}',
        '"latency": {"type": "constant", "entry_ns": 5, "response_ns": 7}',
        '"exchange": "partial_fill"',
        '"depth": {"type": "roi_vector", "roi_lb": 1, "roi_ub": 2}',
    ):
        assert expected in message, expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"queue_model": {"type": "power_prob"}}, "engine.queue_model.n: missing"),
        ({"queue_model": {"type": "power_prob", "n": 0}}, "n: Input should be greater than 0"),
        ({"queue_model": {"type": "fifo"}}, "engine.queue_model: Input tag 'fifo' found"),
        (
            {"queue_model": {"type": "l3_fifo"}, "exchange": "partial_fill"},
            "l3_fifo cannot run with exchange partial_fill",
        ),
        ({"fee_model": {"type": "trading_value", "maker": 0.0}}, "fee_model.taker: missing"),
        ({"latency": {"type": "intp_order_latency", "file": "../x.npz"}}, "the only placeholder"),
        ({"latency": {"type": "intp_order_latency", "file": "/abs/x.npz"}}, "no path"),
        ({"latency": {"type": "intp_order_latency", "file": "{day}.npz"}}, "the only placeholder"),
        ({"depth": {"type": "roi_vector", "roi_lb": 5, "roi_ub": 1}}, "must be below"),
        ({"max_price_tick_levels": 20}, "used only by the trading-platform adapter"),
    ],
)
def test_engine_choices_are_validated(change: dict[str, object], expected: str) -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["engine"].update(change)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        parse_config(raw, "c.json")


def test_risk_is_optional_for_hftbacktest_only() -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    del raw["risk"]
    assert parse_config(raw).risk is None
    raw = json.loads(example_config_path("trading-platform").read_text())
    del raw["risk"]
    with pytest.raises(ConfigError, match="risk: missing section"):
        parse_config(raw, "c.json")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"queue_model": {"type": "power_prob", "n": 2.0}},
            "engine: adapter trading-platform cannot express: queue_model power_prob",
        ),
        ({"depth": {"type": "hash_map"}}, "depth hash_map (only roi_vector)"),
        (
            {"fee_model": {"type": "trading_qty", "maker": 0, "taker": 1}},
            "fee_model trading_qty (only trading_value)",
        ),
        (
            {"latency": {"type": "intp_order_latency", "file": "{part}.npz"}},
            "latency intp_order_latency (only constant)",
        ),
        ({"feed_latency_offset_ns": 5}, "feed_latency_offset_ns (only 0)"),
        ({"instrument": None}, "instrument: missing field"),
    ],
)
def test_trading_platform_refuses_what_its_framework_cannot_express(
    change: dict[str, object], expected: str
) -> None:
    raw = json.loads(example_config_path("trading-platform").read_text())
    raw["engine"].update(change)
    with pytest.raises(ConfigError) as excinfo:
        parse_config(raw, "tp.json")
    assert "adapter trading-platform cannot express" in str(excinfo.value)
    assert expected in str(excinfo.value)
