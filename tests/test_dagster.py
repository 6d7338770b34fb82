"""The Dagster shell against a temporary instance: partitions, sensor, assets, checks, backfills."""

import base64
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import write_config
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    MultiPartitionsDefinition,
    SensorResult,
    build_sensor_context,
    instance_for_test,
)
from hftbacktest.binding import event_dtype
from support.dagster_runs import run_backtest, run_backtest_range
from support.sensor_ticks import apply_partition_requests
from upath import UPath

from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.defs import build_definitions
from trading_runtime.defs.dagster_compat import partition_range_tags
from trading_runtime.defs.resources import PartsDirectory
from trading_runtime.defs.sensors import register_part_files
from trading_runtime.results import BacktestResult
from trading_runtime.runs.instance import register_parts, remove_vanished_parts
from trading_runtime.runs.launch import QUIET_RUN_CONFIG, run_aggregate
from trading_runtime.settings import RuntimeSettings

DATA_VERSION_TAG = "dagster/data_version"


@pytest.fixture
def instance() -> Any:
    with instance_for_test() as test_instance:
        yield test_instance


def _register(instance: DagsterInstance, keys: list[str]) -> None:
    register_parts(instance, keys)  # with the base variant


def _materialization(instance: DagsterInstance, asset: str, partition: str | None = None) -> Any:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    if partition is not None:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]),
            limit=1,
        ).records
        event = records[0].event_log_entry if records else None
    assert event is not None, f"no materialization of {asset} {partition}"
    return event.asset_materialization


def _definitions_with_all_parts(
    instance: DagsterInstance, settings: RuntimeSettings
) -> tuple[Any, list[str]]:
    keys = PartsDirectory(path=settings.parts_dir).partition_keys()
    _register(instance, keys)
    return build_definitions(settings), keys


def _run_partition(defs: Any, instance: DagsterInstance, key: str) -> Any:
    return run_backtest(defs, instance, key)


def _failure_text(result: Any) -> str:
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            texts.append(
                (data.user_failure_data.description if data.user_failure_data else "") or ""
            )
            texts.append(data.error.message if data.error else "")
    return "\n".join(texts)


def test_definitions_shape(settings: RuntimeSettings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_market_data",
        "parts",
        "backtest_results",
        "aggregate_metrics",
        "sweep_leaderboard",
        "order_latency",
    }
    raw = defs.resolve_assets_def("raw_market_data")
    assert isinstance(raw.partitions_def, DynamicPartitionsDefinition)
    assert raw.partitions_def.name == "raw_market_data"
    # One raw group makes several parts: no partition mapping says which (lineage metadata does).
    assert graph.get(AssetKey("parts")).parent_keys == set()
    results = defs.resolve_assets_def("backtest_results")
    assert isinstance(results.partitions_def, MultiPartitionsDefinition)
    dimensions = {d.name: d.partitions_def for d in results.partitions_def.partitions_defs}
    assert {name: getattr(p, "name", None) for name, p in dimensions.items()} == {
        "part": "parts",
        "variant": "variants",
    }
    assert (
        results.backfill_policy is not None
        and results.backfill_policy.max_partitions_per_run is None
    )
    assert results.code_versions_by_key[AssetKey("backtest_results")] not in (
        None,
        "invalid-config",
    )
    for name in ("register_part_files", "register_raw_files", "register_sweep_files"):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
    # What the code server does on load: every job (sensors' targets included) resolves.
    assert defs.get_repository_def().get_all_jobs()
    assert {c.name for c in defs.resolve_asset_graph().asset_check_keys} == {
        "part_file_is_valid",
        "result_is_deterministic",
    }


def test_code_version_follows_what_determines_the_result(
    tmp_path: Path, settings: RuntimeSettings
) -> None:
    def version(s: RuntimeSettings) -> str:
        assets_def = build_definitions(s).resolve_assets_def("backtest_results")
        return str(assets_def.code_versions_by_key[AssetKey("backtest_results")])

    same = settings.model_copy(update={"config": str(write_config(tmp_path / "same.json"))})
    changed = settings.model_copy(
        update={"config": str(write_config(tmp_path / "c.json", strategy__order_qty=0.15))}
    )
    assert version(settings) == version(same)
    assert version(settings) != version(changed)
    broken = settings.model_copy(update={"config": str(write_config(tmp_path / "b.json", nope=1))})
    assert version(broken) == "invalid-config"  # the code location still loads


def _tick(instance: DagsterInstance, parts_dir: Path, cursor: str | None = None) -> SensorResult:
    """One sensor tick, its partition requests applied as the daemon would."""
    resources = {"parts_dir": PartsDirectory(path=str(parts_dir))}
    context = build_sensor_context(instance=instance, resources=resources, cursor=cursor)
    return apply_partition_requests(instance, register_part_files(context))


def _requested(result: SensorResult) -> dict[str, list[str]]:
    return {
        type(r).__name__.removesuffix("DynamicPartitionsRequest").lower(): list(r.partition_keys)
        for r in result.dynamic_partitions_requests
        if r.partitions_def_name == "parts"
    }


def test_sensor_registers_new_part_files(instance: DagsterInstance, parts_dir: Path) -> None:
    result = _tick(instance, parts_dir)
    assert _requested(result) == {"add": ["part-00000", "part-00001", "part-00002"]}
    # With the configured backtest's variant: each part has a backtest_results partition.
    assert instance.get_dynamic_partitions("variants") == ["base"]

    shutil.copy2(parts_dir / "part-00000.npz", parts_dir / "part-00099.npz")
    result = _tick(instance, parts_dir, result.cursor)
    assert _requested(result) == {"add": ["part-00099"]}
    result = _tick(instance, parts_dir, result.cursor)
    assert not result.dynamic_partitions_requests and result.skip_reason is not None
    assert "no new or deleted part files" in str(result.skip_reason.skip_message)


def test_sensor_removes_deleted_parts_and_reports_refused_names_once(
    instance: DagsterInstance, parts_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cursor = _tick(instance, parts_dir).cursor
    (parts_dir / "part-00001.npz").unlink()
    for name in ("..npz", ".npz", "-rf.npz", "a b.npz"):
        shutil.copy2(parts_dir / "part-00000.npz", parts_dir / name)
    capfd.readouterr()
    result = _tick(instance, parts_dir, cursor)
    assert _requested(result) == {"delete": ["part-00001"]}
    assert instance.get_dynamic_partitions("parts") == ["part-00000", "part-00002"]
    log = capfd.readouterr().err  # the tick's log (Dagster's console logger)
    for line in (
        "refused part file ..npz: it starts with '.'",
        "refused part file .npz: it is empty",
        "refused part file -rf.npz: it starts with '-'",
        "refused part file a b.npz: it contains ' '",
        "removing 1 partition(s) with no part file of that name: part-00001",
    ):
        assert log.count(line) == 1, line
    # Each refused name is reported once, not on every tick: the next tick only skips.
    again = _tick(instance, parts_dir, result.cursor)
    assert not again.dynamic_partitions_requests and "refused" not in capfd.readouterr().err
    # A newly refused name is reported, in the skip reason too, while nothing else changed.
    shutil.copy2(parts_dir / "part-00000.npz", parts_dir / "x..y.npz")
    latest = _tick(instance, parts_dir, again.cursor)
    assert latest.skip_reason is not None
    message = str(latest.skip_reason.skip_message)
    assert "refused 1 part file(s)" in message and "x..y.npz: it contains '..'" in message
    assert "..npz" not in message.replace("x..y.npz", "")

    # A missing directory (unmounted, mistyped) removes nothing.
    shutil.rmtree(parts_dir)
    missing = _tick(instance, parts_dir, latest.cursor)
    assert not missing.dynamic_partitions_requests
    assert instance.get_dynamic_partitions("parts") == ["part-00000", "part-00002"]


def test_partitions_materialize_aggregate_and_rerun_unchanged(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    defs, keys = _definitions_with_all_parts(instance, settings)
    for key in keys:
        result = _run_partition(defs, instance, key)
        assert result.success, _failure_text(result)

    part = _materialization(instance, "parts", "part-00001")
    assert part.metadata["n_events"].value == 4000
    assert len(part.metadata["sha256"].value) == 64
    assert part.tags[DATA_VERSION_TAG] == part.metadata["sha256"].value

    stored = Path(settings.results) / "backtest_results" / "part-00001"
    assert sorted(p.name for p in stored.iterdir()) == ["result.json", "versions"]
    (version,) = (stored / "versions").iterdir()
    assert sorted(p.name for p in version.iterdir()) == [
        "chart.png",
        "curve.parquet",
        "result.json",
        "stats.npz",
    ]
    staging = Path(settings.results) / "backtest_results" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())  # scratch space is cleaned up
    loaded = BacktestResult.load(UPath(stored))  # what the IO manager hands downstream
    assert loaded.read_curve().num_rows == loaded.metrics["records"] > 0
    result_event = _materialization(instance, "backtest_results", "part-00001|base")
    metadata = {k: v.value for k, v in result_event.metadata.items()}
    for name in (
        "pnl",
        "sharpe",
        "max_drawdown",
        "trades",
        "engine",
        "engine_version",
        "framework_sha",
        "config_hash",
        "part_sha256",
        "content_hash",
        "wall_time_s",
    ):
        assert name in metadata, name
    assert result_event.tags[DATA_VERSION_TAG] == metadata["content_hash"]
    assert metadata["part_sha256"] == part.metadata["sha256"].value
    # The chart the UI shows is the stored one (markdown with the PNG inline).
    assert _inline_png(metadata["chart"]) == loaded.read_chart()

    aggregate = defs.resolve_job_def("aggregate").execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG
    )
    assert aggregate.success
    table = pq.read_table(Path(settings.results) / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == [*keys, "TOTAL"]
    total = table.to_pylist()[-1]
    assert total["trades"] == sum(table["trades"].to_pylist()[:-1])
    event = _materialization(instance, "aggregate_metrics")
    assert "| TOTAL |" in event.metadata["table"].value
    assert event.metadata["mixed_provenance"].value == []
    aggregate_chart = Path(str(event.metadata["chart_path"].value))
    assert aggregate_chart == Path(settings.results) / "aggregate_metrics.png"
    assert _inline_png(event.metadata["chart"].value) == aggregate_chart.read_bytes()
    assert set(table["config_hash"].to_pylist()) == {metadata["config_hash"]}

    # Unchanged partition re-run: same content hash, and the determinism check compares them.
    rerun = _run_partition(defs, instance, "part-00001")
    assert rerun.success
    again = _materialization(instance, "backtest_results", "part-00001|base")
    assert again.tags[DATA_VERSION_TAG] == result_event.tags[DATA_VERSION_TAG]
    (evaluation,) = [
        e for e in rerun.get_asset_check_evaluations() if e.check_name == "result_is_deterministic"
    ]
    assert evaluation.passed and evaluation.metadata["compared_with_previous_run"].value == 1


def _inline_png(markdown: Any) -> bytes:
    """The PNG of a markdown image with a ``data:`` URI."""
    prefix, _, encoded = str(markdown).partition("(data:image/png;base64,")
    assert prefix.startswith("![") and encoded.endswith(")"), str(markdown)[:80]
    png = base64.b64decode(encoded[:-1], validate=True)
    assert png.startswith(b"\x89PNG")
    return png


def _write_bad_parts(parts_dir: Path) -> dict[str, str]:
    """Broken part files and the message each must produce."""
    good = np.load(parts_dir / "part-00000.npz")["data"]
    (parts_dir / "truncated.npz").write_bytes((parts_dir / "part-00000.npz").read_bytes()[:500])
    np.savez(parts_dir / "wrong_dtype.npz", data=np.zeros(5, dtype=np.int32))
    np.savez(parts_dir / "empty.npz", data=np.zeros(0, dtype=event_dtype))
    unordered = good.copy()
    unordered["exch_ts"] = unordered["exch_ts"][::-1]
    np.savez(parts_dir / "unordered.npz", data=unordered)
    return {
        "truncated": "truncated.npz: not a readable .npz file",
        "wrong_dtype": "wrong_dtype.npz: array 'data' has dtype int32",
        "empty": "empty.npz: array 'data' is empty",
        "unordered": "unordered.npz: timestamps are not monotonic",
        "missing": "missing.npz: file does not exist",
    }


def test_bad_parts_fail_clearly_while_other_partitions_succeed(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    expected = _write_bad_parts(Path(settings.parts_dir))
    defs = build_definitions(settings)
    good = ["part-00000", "part-00002"]
    _register(instance, [*good, *expected])
    for key, message in expected.items():
        result = _run_partition(defs, instance, key)
        assert not result.success
        assert message in _failure_text(result), key
    for key in good:
        assert _run_partition(defs, instance, key).success
    staging = Path(settings.results) / "backtest_results" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())  # failed runs leave nothing behind

    aggregate = defs.resolve_job_def("aggregate").execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG
    )
    assert aggregate.success
    table = pq.read_table(Path(settings.results) / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == [*good, "TOTAL"]
    event = _materialization(instance, "aggregate_metrics")
    assert event.metadata["parts_without_result"].value == len(expected)
    assert event.metadata["first_parts_without_result"].value == sorted(expected)


def test_config_and_strategy_errors_fail_the_run_clearly(
    tmp_path: Path, instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    _register(instance, ["part-00000"])
    cases = {
        "unknown_key.json": (
            {"engine__tick_sise": 0.1},
            "unknown_key.json:\n  engine.tick_sise: unknown key",
        ),
        "bad_strategy.json": (
            {"strategy__class_path": "trading_runtime.strategies.no_such_module:run"},
            "cannot import module 'trading_runtime.strategies.no_such_module'",
        ),
        "not_allowed.json": (
            {"strategy__class_path": "no_such_package.mm:run"},
            "'no_such_package.mm:run' is not allowed: module 'no_such_package.mm' is not under"
            " a prefix in TRADING_RUNTIME_STRATEGY_MODULES",
        ),
    }
    for name, (changes, message) in cases.items():
        config = write_config(tmp_path / name, **changes)
        defs = build_definitions(settings.model_copy(update={"config": str(config)}))
        result = _run_partition(defs, instance, "part-00000")
        assert not result.success
        assert message in _failure_text(result), name


def test_engine_timeout_fails_the_partition_within_seconds(
    tmp_path: Path, instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    config = write_config(
        tmp_path / "stuck.json",
        strategy={"class_path": "support.strategies_for_tests:stuck_forever"},
    )
    # workers=1 gives this test its own pool, so killing its worker leaves the warm pool alone.
    defs = build_definitions(
        settings.model_copy(update={"config": str(config), "timeout_s": 3.0, "workers": 1})
    )
    _register(instance, ["part-00000"])
    started = time.monotonic()
    result = _run_partition(defs, instance, "part-00000")
    assert not result.success
    assert "backtest exceeded the 3 s timeout" in _failure_text(result)
    assert time.monotonic() - started < 3.0 + 10  # the timeout plus worker start-up


def test_single_run_backfill_matches_per_partition_runs(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    defs, keys = _definitions_with_all_parts(instance, settings)
    result = defs.resolve_job_def("backtest_parts").execute_in_process(
        instance=instance,
        tags=partition_range_tags(f"{keys[0]}|base", f"{keys[-1]}|base"),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success
    assert len(result.get_asset_materialization_events()) == len(keys)
    single_run_hashes = {
        key: _materialization(instance, "backtest_results", f"{key}|base")
        .metadata["content_hash"]
        .value
        for key in keys
    }
    assert len(set(single_run_hashes.values())) == len(keys)
    # One Output cannot carry a data version per partition: in a single run the per-partition
    # content hash lives in the metadata (what result_is_deterministic compares).
    for key in keys:
        assert _run_partition(defs, instance, key).success
        event = _materialization(instance, "backtest_results", f"{key}|base")
        assert event.metadata["content_hash"].value == single_run_hashes[key]


def test_materialize_api_with_project_resources(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    """Dagster's `materialize()` on the asset definitions, as a user's own test would call it."""
    from dagster import materialize

    from trading_runtime.defs.assets import make_backtest_results, parts
    from trading_runtime.defs.resources import build_resources

    _register(instance, ["part-00002"])
    assets = [parts, make_backtest_results(code_version="test")]
    result = materialize(
        assets[1:],
        partition_key="part-00002|base",
        instance=instance,
        resources=build_resources(settings),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["backtest_results"]
    ]
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata["engine"].value == "hftbacktest"
    assert (Path(settings.results) / "backtest_results" / "part-00002" / "result.json").is_file()


def test_part_check_fails_when_the_file_changes_after_validation(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    from dagster import AssetCheckKey, AssetSelection, Definitions, define_asset_job

    defs, _ = _definitions_with_all_parts(instance, settings)
    assert _run_partition(defs, instance, "part-00001").success
    check_only = define_asset_job(
        "check_parts",
        selection=AssetSelection.checks(AssetCheckKey(AssetKey("parts"), "part_file_is_valid")),
    )
    defs = Definitions.merge(defs, Definitions(jobs=[check_only]))

    def check() -> Any:
        # On its own (as "Execute check" in the UI) the check covers every registered part.
        result = defs.resolve_job_def("check_parts").execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
        )
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    evaluation = check()
    assert not evaluation.passed and evaluation.metadata["checked_partitions"].value == 3
    assert evaluation.description.count("never validated") == 2  # part-00000 and part-00002
    assert "part-00001" not in evaluation.description
    part = Path(settings.parts_dir) / "part-00001.npz"
    shutil.copy2(Path(settings.parts_dir) / "part-00002.npz", part)
    assert "part-00001.npz: file changed since it was validated" in check().description
    part.unlink()
    assert "part-00001.npz: file does not exist" in check().description


def test_deleted_part_is_left_out_of_the_aggregate_and_backfills_still_succeed(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    defs, keys = _definitions_with_all_parts(instance, settings)
    assert run_backtest_range(defs, instance, keys).success
    stored = Path(settings.results) / "backtest_results"
    (Path(settings.parts_dir) / "part-00001.npz").unlink()

    def aggregate() -> dict[str, Any]:
        result = run_aggregate(defs.resolve_job_def("aggregate"), instance)
        assert result.success
        table = pq.read_table(Path(settings.results) / "aggregate_metrics.parquet")
        assert table["partition"].to_pylist() == ["part-00000", "part-00002", "TOTAL"]
        event = _materialization(instance, "aggregate_metrics")
        return {k: v.value for k, v in event.metadata.items()}

    # Before the sensor's next tick the partition still exists: its file is gone all the same.
    metadata = aggregate()
    assert metadata["orphaned_results"] == 1
    assert metadata["first_orphaned_results"] == ["part-00001"]
    assert metadata["parts"] == 2 and metadata["parts_without_result"] == 0
    # Once the partition is removed (the sensor, or `materialize` at its start), the same.
    assert remove_vanished_parts(instance, list_part_keys(settings.parts_dir)) == ["part-00001"]
    metadata = aggregate()
    assert metadata["orphaned_results"] == 1 and metadata["parts_without_result"] == 0
    assert (stored / "part-00001" / "result.json").is_file()  # stored data is never deleted

    # Backfills over the parts that are left succeed: one run over all, and one per partition.
    remaining = instance.get_dynamic_partitions("parts")
    assert remaining == ["part-00000", "part-00002"]
    assert run_backtest_range(defs, instance, remaining).success
    assert all(_run_partition(defs, instance, key).success for key in remaining)
