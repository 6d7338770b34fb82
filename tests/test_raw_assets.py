"""Raw files in the asset graph (issue 19, items 1, 2, 7): a raw file dropped into
``<raw>/<format>/`` is a ``raw_market_data`` partition; materializing it writes parts, registers
them and records the conversion; a changed raw file is converted again and only the parts it
changed are backtested again; lineage is metadata on both sides."""

from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    RunRequest,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
    instance_for_test,
)
from support.dagster_runs import run_backtest
from support.raw_files import binance_lines, write_gzip_lines, write_tardis

from trading_runtime.data.raw_store import scan_raw
from trading_runtime.defs import build_definitions
from trading_runtime.defs.lineage import raw_source_metadata
from trading_runtime.defs.resources import PartsDirectory, RawDirectory
from trading_runtime.runs.launch import run_partition
from trading_runtime.settings import RuntimeSettings

RAW_KEY = "binancefutures-btcusdt_20240102.gz"
HOURS = ["BTCUSDT-20240102-0000", "BTCUSDT-20240102-0100", "BTCUSDT-20240102-0200"]


@pytest.fixture
def instance() -> Any:
    with instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def raw_settings(settings: RuntimeSettings, tmp_path: Path) -> RuntimeSettings:
    return settings.model_copy(update={"raw_dir": str(tmp_path / "raw")})


def _drop(settings: RuntimeSettings, minutes: int = 150) -> Path:
    path = Path(settings.raw_dir) / "binancefutures" / "btcusdt_20240102.gz"
    return write_gzip_lines(path, binance_lines(minutes=minutes))


def _tick(instance: DagsterInstance, settings: RuntimeSettings, cursor: str | None) -> SensorResult:
    """One tick of the raw sensor (automation on), its partition requests applied."""
    resources = {
        "raw_dir": RawDirectory(path=settings.raw_dir),
        "parts_dir": PartsDirectory(path=settings.parts_dir),
    }
    context = build_sensor_context(instance=instance, resources=resources, cursor=cursor)
    sensor = build_definitions(settings).resolve_sensor_def("register_raw_files")
    result = sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests:
        assert isinstance(request, AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return result


def _requests(result: SensorResult) -> list[tuple[str, str]]:
    runs = [r for r in result.run_requests or [] if isinstance(r, RunRequest)]
    return [(str(r.partition_key), str(r.job_name)) for r in runs]


def _metadata(instance: DagsterInstance, asset: str, partition: str) -> dict[str, Any]:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"no materialization of {asset} {partition}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {k: v.value for k, v in materialization.metadata.items()}


def test_group_keys_follow_the_part_name_rule(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    write_gzip_lines(raw / "binancefutures" / "btcusdt_20240102.gz", binance_lines(minutes=2))
    write_tardis(raw / "tardis")
    (raw / "binancefutures" / "bad name.gz").write_bytes(b"")
    (raw / "binancefutures" / ".copying.gz").write_bytes(b"")  # hidden: a copy in progress
    (raw / "csv").mkdir()
    (raw / "csv" / "x.csv").write_text("")
    listing = scan_raw(raw)
    assert list(listing.groups) == [RAW_KEY, "tardis-binance-futures_BTCUSDT_2024-01-02"]
    assert len(listing.groups["tardis-binance-futures_BTCUSDT_2024-01-02"].files) == 2
    assert set(listing.refused) == {"binancefutures/bad name.gz", "csv/x.csv"}
    assert "' '" in listing.refused["binancefutures/bad name.gz"]


def test_materialize_raw_partition_records_conversion_and_registers_parts(
    instance: DagsterInstance, raw_settings: RuntimeSettings
) -> None:
    """The raw partition's materialization: the parts it made, the raw sha256, the converter and
    its version, the window, what the converter corrected; its parts become partitions and their
    backtests carry ``raw_source``. Hand-dropped parts stay as they are."""
    _drop(raw_settings)
    result = _tick(instance, raw_settings, None)
    assert instance.get_dynamic_partitions("raw_market_data") == [RAW_KEY]
    assert _requests(result) == []  # new: declarative automation requests it (missing)
    defs = build_definitions(raw_settings)
    automation = evaluate_automation_conditions(defs, instance)
    assert automation.get_requested_partitions(AssetKey("raw_market_data")) == {RAW_KEY}

    run = run_partition(defs.resolve_job_def("convert_raw"), instance, RAW_KEY)
    assert run.success
    metadata = _metadata(instance, "raw_market_data", RAW_KEY)
    assert metadata["parts"] == HOURS and metadata["n_parts"] == 3
    assert metadata["latency_offset_ns"] == 5_000_000
    assert metadata["messages_by_kind"] == {"depthUpdate": 150, "trade": 150}
    assert metadata["converter"] == "hftbacktest.data.utils.binancefutures.convert(path)"
    assert metadata["hftbacktest_version"] == "2.4.4" and metadata["window_ns"] == 3600 * 10**9
    assert [f["file"] for f in metadata["raw_files"]] == ["btcusdt_20240102.gz"]
    assert "BTCUSDT-20240102-0000" in metadata["parts_table"]
    assert instance.get_dynamic_partitions("parts") == HOURS  # registered by the asset
    parts = sorted(p.stem for p in Path(raw_settings.parts_dir).glob("*.npz"))
    assert parts == [*HOURS, "part-00000", "part-00001", "part-00002"]  # hand-dropped ones stay

    part = HOURS[1]
    assert run_backtest(defs, instance, part).success
    for asset, key in (("parts", part), ("backtest_results", f"{part}|base")):
        source = _metadata(instance, asset, key)["raw_source"]
        assert source["raw_partition"] == RAW_KEY
        assert source["snapshot_from_part"] == HOURS[0]
        assert source["files"][0]["sha256"] == metadata["raw_files"][0]["sha256"]
    assert raw_source_metadata(raw_settings.parts_dir, "part-00000") == {}  # hand-dropped


def test_changed_raw_file_reconverts_and_reruns_only_its_changed_parts(
    instance: DagsterInstance, raw_settings: RuntimeSettings
) -> None:
    defs = build_definitions(raw_settings)
    _drop(raw_settings)
    cursor = _tick(instance, raw_settings, None).cursor
    convert = defs.resolve_job_def("convert_raw")
    assert run_partition(convert, instance, RAW_KEY).success
    for part in HOURS:
        assert run_backtest(defs, instance, part).success
    result = _tick(instance, raw_settings, cursor)
    assert _requests(result) == []  # nothing changed
    # The recording is 90 minutes now: hour 0 is the same, hour 1 shorter, hour 2 gone.
    _drop(raw_settings, minutes=90)
    result = _tick(instance, raw_settings, result.cursor)
    assert _requests(result) == [(RAW_KEY, "convert_raw")]
    assert _tick(instance, raw_settings, result.cursor).run_requests == []  # requested once
    assert run_partition(convert, instance, RAW_KEY).success
    metadata = _metadata(instance, "raw_market_data", RAW_KEY)
    assert metadata["parts"] == HOURS[:2] and metadata["removed_parts"] == [HOURS[2]]
    assert HOURS[2] not in instance.get_dynamic_partitions("parts")
    assert not (Path(raw_settings.parts_dir) / f"{HOURS[2]}.npz").exists()
    result = _tick(instance, raw_settings, result.cursor)
    assert _requests(result) == [
        (HOURS[1], "validate_parts"),
        (f"{HOURS[1]}|base", "backtest_parts"),
    ]


def test_a_name_taken_by_a_hand_dropped_part_fails_the_raw_partition_alone(
    instance: DagsterInstance, raw_settings: RuntimeSettings
) -> None:
    parts = Path(raw_settings.parts_dir)
    (parts / "part-00000.npz").rename(parts / f"{HOURS[1]}.npz")
    before = (parts / f"{HOURS[1]}.npz").read_bytes()
    _drop(raw_settings)
    instance.add_dynamic_partitions("raw_market_data", [RAW_KEY])
    defs = build_definitions(raw_settings)
    run = run_partition(defs.resolve_job_def("convert_raw"), instance, RAW_KEY)
    assert not run.success
    assert (parts / f"{HOURS[1]}.npz").read_bytes() == before
    assert not (parts / f"{HOURS[0]}.npz").exists()  # nothing written
    assert not list(parts.glob(".raw-*"))  # no staging left
