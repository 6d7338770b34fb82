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
        base, {"strategy.quote_offset_ticks": 3, "engine.entry_latency_ns": 5}, "base.json"
    )
    assert swept.strategy.params["quote_offset_ticks"] == 3
    assert swept.engine.entry_latency_ns == 5
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
        ("engine.maker_fee_rate", float("nan"), "engine.maker_fee_rate: Input should be a finite"),
        ("engine.roi_ub", float("inf"), "engine.roi_ub: Input should be a finite number"),
        ("engine.tick_size", True, "engine.tick_size: Input should be a valid number"),
        ("engine.max_steps", "1000", "engine.max_steps: Input should be a valid integer"),
        ("engine.partial_fill_venue", 1, "engine.partial_fill_venue: Input should be a valid"),
        ("engine.entry_latency_ns", 2**64, "engine.entry_latency_ns: Input should be less than"),
        (
            "engine.roi_ub",
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
    path = write_config(tmp_path / "c.json", engine__taker_fee_rate=float("nan"))
    assert "NaN" in path.read_text()
    with pytest.raises(ConfigError, match="engine.taker_fee_rate: Input should be a finite"):
        load_config(path)


def test_config_survives_the_trip_to_a_worker() -> None:
    """Workers receive the config as JSON: what they parse is the same config, same hash."""
    for adapter in ("hftbacktest", "trading-platform"):
        config = load_config(example_config_path(adapter))
        again = parse_config(json.loads(config.model_dump_json()), "<worker>")
        assert again == config and again.config_hash() == config.config_hash()
