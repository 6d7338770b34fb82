"""Order latency from the feed (issue 19, item 5): a part's interpolated order-latency file,
derived from its feed latency by hftbacktest's own method, written where the config's
``intp_order_latency`` reads it, by the CLI, the raw conversion and the ``order_latency`` asset."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, instance_for_test, materialize
from hftbacktest import DEPTH_EVENT, EXCH_EVENT, LOCAL_EVENT, TRADE_EVENT
from hftbacktest.data.utils.feed_order_latency import generate_order_latency, order_latency_dtype
from hftbacktest.types import event_dtype
from support.raw_files import binance_lines, write_gzip_lines

from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.cli import main
from trading_runtime.config import BacktestConfig, example_config_path, parse_config
from trading_runtime.data.ingest.feed_latency import (
    ORDER_LATENCY_DTYPE,
    FeedLatencyError,
    LatencyMethod,
    latency_percentiles,
    order_latency_from_events,
    order_latency_of_part,
    write_order_latency,
)
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.defs import build_definitions
from trading_runtime.defs.latency_assets import make_order_latency
from trading_runtime.defs.resources import BacktestRunner, PartsDirectory
from trading_runtime.results import BacktestResult
from trading_runtime.runs.launch import run_partition
from trading_runtime.settings import RuntimeSettings

T0 = 1_700_000_000_000_000_000  # a whole second, so the 1 s windows start at T0
MS = 1_000_000
BOTH = EXCH_EVENT | LOCAL_EVENT


def _events(feed_latency_ms: list[int]) -> np.ndarray:
    """Four depth events a second (local times T0 + 0, 250, 500, 750 ms of each second) with
    the second's feed latency, and one exchange-only trade a second that must not count."""
    rows = []
    for second, latency in enumerate(feed_latency_ms):
        for quarter in range(4):
            local = T0 + second * 1000 * MS + quarter * 250 * MS
            rows.append((BOTH | DEPTH_EVENT, local - latency * MS, local, 100.0, 1.0, 0, 0, 0.0))
        exch_only = T0 + second * 1000 * MS + 900 * MS
        rows.append((EXCH_EVENT | TRADE_EVENT, exch_only, exch_only + 99 * MS, 100.0, 1.0, 0, 0, 0))
    return np.array(rows, dtype=event_dtype)


def test_rows_follow_the_feed_latency_of_each_interval() -> None:
    """Per 1 s window, the last event's feed latency: entry 4x, response 3x (the defaults)."""
    feed_ms = [1, 1, 3, 2, 1]
    rows = order_latency_from_events(_events(feed_ms))
    assert rows.dtype == ORDER_LATENCY_DTYPE == np.dtype(order_latency_dtype)  # hftbacktest's
    last_local = [T0 + s * 1000 * MS + 750 * MS for s in range(5)]
    assert rows["req_ts"].tolist() == last_local
    assert (rows["exch_ts"] - rows["req_ts"]).tolist() == [4 * ms * MS for ms in feed_ms]
    assert (rows["resp_ts"] - rows["exch_ts"]).tolist() == [3 * ms * MS for ms in feed_ms]
    assert rows["_padding"].tolist() == [0] * 5
    stats = latency_percentiles(rows)
    assert (stats["entry_p50_ns"], stats["entry_p99_ns"]) == (4 * MS, 12 * MS)

    method = LatencyMethod(
        interval_ns=2000 * MS, entry_multiplier=1, entry_offset_ns=5, response_multiplier=0
    )
    two = order_latency_from_events(_events([1, 1, 3, 2]), method)
    assert two["req_ts"].tolist() == [last_local[1], last_local[3]]
    assert (two["exch_ts"] - two["req_ts"]).tolist() == [1 * MS + 5, 2 * MS + 5]
    assert (two["resp_ts"] == two["exch_ts"]).all()
    with pytest.raises(ValueError, match="entry_multiplier must be a finite number >= 0"):
        LatencyMethod(entry_multiplier=-1)


def test_same_rows_as_hftbacktests_helper(tmp_path: Path, generated_parts: list[Path]) -> None:
    """The rows are exactly what hftbacktest's generate_order_latency makes of the part file."""
    method = LatencyMethod(entry_multiplier=4, response_multiplier=3)
    expected = generate_order_latency(str(generated_parts[0]), mul_entry=4, mul_resp=3)
    assert np.array_equal(order_latency_of_part(generated_parts[0], method), expected)


def test_a_part_without_feed_latency_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    events = _events([1, 1])
    depth = (events["ev"] & np.uint64(0xFF)) == DEPTH_EVENT
    events["ev"][depth] = LOCAL_EVENT | DEPTH_EVENT  # local-only depth, exchange-only trades
    with pytest.raises(FeedLatencyError, match="carries both an exchange and a local timestamp"):
        order_latency_from_events(events)
    part = tmp_path / "no-feed.npz"
    write_npz_deterministic(part, {"data": events})
    with pytest.raises(FeedLatencyError) as caught:
        order_latency_of_part(part)
    assert str(caught.value).startswith(f"part {part}: ") and "\n" not in str(caught.value)
    report = write_order_latency([part], tmp_path / "latency", "{part}.npz")
    assert report.written == [] and report.errors == [str(caught.value)]
    assert not (tmp_path / "latency" / "no-feed.npz").exists()


_WRITE_IN_A_FRESH_PROCESS = """
import sys
from pathlib import Path
from trading_runtime.data.ingest.feed_latency import write_order_latency
write_order_latency([Path(sys.argv[1])], Path(sys.argv[2]), "{part}.npz")
"""


def test_same_part_bytes_give_the_same_file_bytes(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    part = generated_parts[0]
    first = write_order_latency([part], tmp_path / "a", "{part}.npz").written[0].path
    again = write_order_latency([part], tmp_path / "b", "{part}.npz").written[0].path
    subprocess.run(
        [sys.executable, "-c", _WRITE_IN_A_FRESH_PROCESS, str(part), str(tmp_path / "c")],
        check=True,
        timeout=120,
    )
    fresh = tmp_path / "c" / first.name
    assert first.read_bytes() == again.read_bytes() == fresh.read_bytes()


def _intp_config(file: str = "{part}.npz") -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(example_config_path("hftbacktest").read_text())
    raw["engine"]["latency"] = {"type": "intp_order_latency", "file": file}
    raw["strategy"] = {"class_path": "support.strategies_for_tests:tutorial_recorder_second"}
    return raw


def _write_config(path: Path, raw: dict[str, Any]) -> BacktestConfig:
    path.write_text(json.dumps(raw))
    return parse_config(raw, str(path))


def test_the_engine_reads_the_file(tmp_path: Path, parts_dir: Path) -> None:
    """A backtest with ``intp_order_latency`` runs on the file the CLI wrote, and records it."""
    config_path = tmp_path / "config.json"
    config = _write_config(config_path, _intp_config("{part}_feed.npz"))
    args = ["data", "latency", "--parts", str(parts_dir), "--config", str(config_path)]
    written = CliRunner().invoke(main, args)
    assert written.exit_code == 0, written.output
    latency = parts_dir / "latency" / "part-00000_feed.npz"
    assert f"ok {latency}:" in written.output

    part = parts_dir / "part-00000.npz"
    outcomes = backtest_and_publish(config, {part.stem: part}, tmp_path / "out", timeout_s=120)
    result = outcomes[part.stem]
    assert isinstance(result, BacktestResult), result
    assert result.provenance["latency_file"] == "latency/part-00000_feed.npz"
    assert result.provenance["latency_sha256"] == hashlib.sha256(latency.read_bytes()).hexdigest()


def test_cli_refuses_to_overwrite_without_force(tmp_path: Path, parts_dir: Path) -> None:
    out = tmp_path / "latency"
    args = ["data", "latency", "--parts", str(parts_dir), "--out", str(out)]
    args += ["--config", str(example_config_path("hftbacktest"))]  # constant latency: {part}.npz
    assert CliRunner().invoke(main, args).exit_code == 0
    mine = out / "part-00001.npz"
    mine.write_bytes(b"a hand-made latency file")
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1
    assert "3 latency file(s) already in" in refused.output and "--force" in refused.output
    assert mine.read_bytes() == b"a hand-made latency file"
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert np.load(mine)["data"].dtype == ORDER_LATENCY_DTYPE
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.npz" for i in range(3)]


def _materialization_metadata(instance: DagsterInstance, key: str) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(AssetKey("order_latency"))
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == key
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_order_latency_asset_materializes(tmp_path: Path, parts_dir: Path) -> None:
    config_path = tmp_path / "config.json"
    _write_config(config_path, _intp_config())
    resources = {
        "parts_dir": PartsDirectory(path=str(parts_dir)),
        "backtest_runner": BacktestRunner(config_path=str(config_path), timeout_s=60, workers=1),
    }
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("parts", ["part-00002"])
        result = materialize(
            [make_order_latency()],
            partition_key="part-00002",
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert result.success
        metadata = _materialization_metadata(instance, "part-00002")
    target = parts_dir / "latency" / "part-00002.npz"
    rows = np.load(target)["data"]
    assert metadata["path"] == str(target) and metadata["file"] == "latency/part-00002.npz"
    assert metadata["rows"] == len(rows) > 0
    assert metadata["entry_p50_ns"] == latency_percentiles(rows)["entry_p50_ns"]
    assert metadata["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_raw_conversion_writes_latency_files_when_asked(
    tmp_path: Path, settings: RuntimeSettings
) -> None:
    """TRADING_RUNTIME_RAW_LATENCY=on: each part the conversion makes gets its latency file,
    the same bytes the CLI would write for it."""
    on = settings.model_copy(update={"raw_dir": str(tmp_path / "raw"), "raw_latency": "on"})
    write_gzip_lines(tmp_path / "raw" / "binancefutures" / "btcusdt_20240102.gz", binance_lines())
    defs = build_definitions(on)
    with instance_for_test() as instance:
        key = "binancefutures-btcusdt_20240102.gz"
        instance.add_dynamic_partitions("raw_market_data", [key])
        assert run_partition(defs.resolve_job_def("convert_raw"), instance, key).success
    parts_dir = Path(on.parts_dir)
    made = sorted(p.name for p in (parts_dir / "latency").iterdir())
    assert made == [f"BTCUSDT-20240102-0{h}00.npz" for h in range(3)]
    part = parts_dir / made[1]
    by_cli = write_order_latency([part], tmp_path / "cli", "{part}.npz").written[0].path
    assert (parts_dir / "latency" / made[1]).read_bytes() == by_cli.read_bytes()

    # The recording rewritten shorter: its third hour is gone, and so is that part's file.
    write_gzip_lines(
        tmp_path / "raw" / "binancefutures" / "btcusdt_20240102.gz", binance_lines(minutes=90)
    )
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("raw_market_data", [key])
        assert run_partition(defs.resolve_job_def("convert_raw"), instance, key).success
    left = sorted(p.name for p in (parts_dir / "latency").iterdir())
    assert left == [f"BTCUSDT-20240102-0{h}00.npz" for h in range(2)]
