"""The engine section covers hftbacktest's asset builder: every choice reaches the asset."""

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trading_runtime.adapters.hftbacktest import assets
from trading_runtime.adapters.hftbacktest.assets import build_asset
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import BacktestConfig, example_config_path, parse_config
from trading_runtime.data.latency import latency_file_path
from trading_runtime.data.validate import PartValidationError, validate_part
from trading_runtime.freshness.code_version import latency_files_hash, result_code_version
from trading_runtime.results import RESULT_INPUTS, BacktestResult

# hftbacktest's order-latency rows (hftbacktest.data.utils.feed_order_latency.order_latency_dtype)
ORDER_LATENCY_DTYPE = np.dtype(
    [("req_ts", "i8"), ("exch_ts", "i8"), ("resp_ts", "i8"), ("_padding", "i8")], align=True
)


class _RecordingAsset:
    """Stands in for hftbacktest's BacktestAsset: records each builder call."""

    calls: list[tuple[str, tuple[Any, ...]]]

    def __init__(self) -> None:
        self.calls = []

    def __getattr__(self, name: str) -> Any:
        def builder(*args: Any) -> "_RecordingAsset":
            self.calls.append((name, args))
            return self

        return builder


def _config(engine: dict[str, Any], **strategy: Any) -> BacktestConfig:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["engine"].update(engine)
    if strategy:
        raw["strategy"] = strategy
    return parse_config(raw, "test")


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ({"queue_model": {"type": "risk_adverse"}}, ("risk_adverse_queue_model", ())),
        ({"queue_model": {"type": "log_prob"}}, ("log_prob_queue_model", ())),
        ({"queue_model": {"type": "log_prob2"}}, ("log_prob_queue_model2", ())),
        ({"queue_model": {"type": "power_prob", "n": 2.0}}, ("power_prob_queue_model", (2.0,))),
        ({"queue_model": {"type": "power_prob2", "n": 3}}, ("power_prob_queue_model2", (3.0,))),
        ({"queue_model": {"type": "power_prob3", "n": 3}}, ("power_prob_queue_model3", (3.0,))),
        ({"queue_model": {"type": "l3_fifo"}}, ("l3_fifo_queue_model", ())),
        (
            {"fee_model": {"type": "trading_qty", "maker": -0.01, "taker": 0.02}},
            ("trading_qty_fee_model", (-0.01, 0.02)),
        ),
        (
            {"fee_model": {"type": "flat_per_trade", "maker": 0.0, "taker": 0.5}},
            ("flat_per_trade_fee_model", (0.0, 0.5)),
        ),
        ({"exchange": "partial_fill"}, ("partial_fill_exchange", ())),
        ({"exchange": "no_partial_fill"}, ("no_partial_fill_exchange", ())),
        ({"latency": {"type": "constant", "entry_ns": 7}}, ("constant_order_latency", (7, 0))),
        (
            {"latency": {"type": "intp_order_latency", "file": "x.npz", "latency_offset_ns": 3}},
            ("intp_order_latency", (["/parts/latency/x.npz"], 3)),
        ),
        ({"feed_latency_offset_ns": -5}, ("latency_offset", (-5,))),
        ({"last_trades_capacity": 7}, ("last_trades_capacity", (7,))),
        ({"contract_size": 2.5}, ("linear_asset", (2.5,))),
    ],
)
def test_each_choice_is_one_builder_call(
    engine: dict[str, Any], expected: tuple[str, tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "BacktestAsset", _RecordingAsset)
    config = _config(engine)
    asset = build_asset(config.engine, ["/parts/p.npz"], [Path("/parts/latency/x.npz")])
    calls = asset.calls  # type: ignore[attr-defined]
    assert calls[0] == ("data", (["/parts/p.npz"],))
    assert expected in calls
    # One queue model, one fee model, one latency model, one exchange: nothing left to a default.
    kinds = ("_queue_model", "_fee_model", "_latency", "_exchange")
    for kind in kinds:
        chosen = [name for name, _ in calls if name.endswith(kind) or kind in name]
        assert len(chosen) == 1, (kind, calls)
    assert ("roi_lb", (40000.0,)) in calls and ("roi_ub", (80000.0,)) in calls


def test_hash_map_depth_has_no_roi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "BacktestAsset", _RecordingAsset)
    config = _config({"depth": {"type": "hash_map"}})
    calls = build_asset(config.engine, ["/p.npz"]).calls  # type: ignore[attr-defined]
    assert not [name for name, _ in calls if name.startswith("roi_")]


def _write_latency(path: Path, part: Path, entry_ns: int, response_ns: int) -> None:
    info = validate_part(part)
    start, end = info.first_exch_ts - 10**9, info.last_local_ts + 10**9
    rows = np.zeros(int((end - start) // 10**8) + 1, ORDER_LATENCY_DTYPE)
    rows["req_ts"] = start + np.arange(len(rows)) * 10**8
    rows["exch_ts"] = rows["req_ts"] + entry_ns
    rows["resp_ts"] = rows["exch_ts"] + response_ns
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, data=rows)


def test_interpolated_latency_file_per_part_is_an_input_of_the_result(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    part = Path(shutil.copy2(generated_parts[0], parts / generated_parts[0].name))
    latency = parts / "latency" / f"{part.stem}.npz"
    _write_latency(latency, part, entry_ns=5_000_000, response_ns=5_000_000)
    config = _config(
        {
            "latency": {"type": "intp_order_latency", "file": "{part}.npz"},
            "queue_model": {"type": "power_prob3", "n": 3.0},
            "depth": {"type": "hash_map"},
            "fee_model": {"type": "trading_qty", "maker": 0.0, "taker": 0.01},
        },
        class_path="support.strategies_for_tests:tutorial_recorder_second",
    )
    outcomes = backtest_and_publish(config, {part.stem: part}, tmp_path / "out", timeout_s=120)
    result = outcomes[part.stem]
    assert isinstance(result, BacktestResult), result
    assert result.metrics["trades"] > 0
    assert "latency_sha256" in RESULT_INPUTS
    assert result.provenance["latency_sha256"] == hashlib.sha256(latency.read_bytes()).hexdigest()
    assert result.provenance["latency_file"] == f"latency/{part.stem}.npz"
    # The fee grid follows the fee model: a fee per unit of quantity.
    assert result.provenance["canonical_steps"]["fee"] == pytest.approx(0.01 * 0.01)

    latency.unlink()
    with pytest.raises(PartValidationError, match=r"latency/part-00000.npz does not exist"):
        latency_file_path(config.engine, validate_part(part))
    missing = backtest_and_publish(config, {part.stem: part}, tmp_path / "out2", timeout_s=120)
    assert "engine.latency file latency/part-00000.npz does not exist" in str(missing[part.stem])


def test_latency_files_are_part_of_the_code_version(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    """Dagster marks results stale when the code version changes: a changed latency file must
    change it (the constant-latency config's code version does not depend on the directory)."""
    parts = tmp_path / "parts"
    constant = _config({})
    per_part = _config({"latency": {"type": "intp_order_latency", "file": "{part}.npz"}})
    _write_latency(parts / "latency" / "part-00000.npz", generated_parts[0], 5_000_000, 5_000_000)
    (parts / "latency" / "unrelated.txt").write_text("not a latency file")
    before = result_code_version(per_part, parts)
    assert result_code_version(constant, parts) == result_code_version(constant)
    assert latency_files_hash(constant, parts) is None
    _write_latency(parts / "latency" / "part-00000.npz", generated_parts[0], 9_000_000, 5_000_000)
    assert result_code_version(per_part, parts) != before
    (parts / "latency" / "unrelated.txt").write_text("changed")
    after = result_code_version(per_part, parts)
    assert after == result_code_version(per_part, parts)  # stable
    _write_latency(parts / "latency" / "part-00001.npz", generated_parts[1], 5_000_000, 5_000_000)
    assert result_code_version(per_part, parts) != after


def test_interpolated_latency_files_of_parts_on_an_object_store(
    s3: tuple[Any, str], tmp_path: Path, generated_parts: list[Path]
) -> None:
    """A remote part's latency file is downloaded beside its local copy: the same result as
    the local part with the same file; a missing one fails that part, naming the file."""
    fs, prefix = s3
    local_parts = tmp_path / "parts"
    local_parts.mkdir()
    part = Path(shutil.copy2(generated_parts[0], local_parts / generated_parts[0].name))
    latency = local_parts / "latency" / f"{part.stem}.npz"
    _write_latency(latency, part, entry_ns=5_000_000, response_ns=5_000_000)
    fs.put_file(str(part), f"{prefix}/parts/{part.name}")
    fs.put_file(str(latency), f"{prefix}/parts/latency/{latency.name}")
    config = _config(
        {"latency": {"type": "intp_order_latency", "file": "{part}.npz"}},
        class_path="support.strategies_for_tests:tutorial_recorder_second",
    )
    remote = f"s3://{prefix}/parts/{part.name}"
    from_s3 = backtest_and_publish(config, {part.stem: remote}, tmp_path / "s3", timeout_s=120)
    from_disk = backtest_and_publish(config, {part.stem: part}, tmp_path / "disk", timeout_s=120)
    remote_result, local_result = from_s3[part.stem], from_disk[part.stem]
    assert isinstance(remote_result, BacktestResult), remote_result
    assert isinstance(local_result, BacktestResult), local_result
    assert remote_result.content_hash == local_result.content_hash
    assert remote_result.provenance["latency_sha256"] == local_result.provenance["latency_sha256"]

    fs.rm(f"{prefix}/parts/latency/{latency.name}")
    missing = backtest_and_publish(config, {part.stem: remote}, tmp_path / "gone", timeout_s=120)
    assert f"engine.latency file latency/{latency.name} does not exist beside s3://" in str(
        missing[part.stem]
    )
