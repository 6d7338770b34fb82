"""Declarative automation, evaluated in process: what it requests for new parts and results.
(The daemon doing it for real: tests/test_dagster_e2e.py.)"""

from collections.abc import Iterator
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultSensorStatus,
    evaluate_automation_conditions,
    instance_for_test,
)

from trading_runtime.defs import build_definitions
from trading_runtime.defs.automation import AUTOMATION_SENSOR
from trading_runtime.settings import RuntimeSettings, load_settings


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def _requested(result: Any) -> dict[str, list[str]]:
    """Requested partitions by asset ('' for an unpartitioned asset)."""
    requested: dict[str, list[str]] = {}
    for asset in ("parts", "backtest_results", "aggregate_metrics", "sweep_leaderboard"):
        partitions = result.get_requested_partitions(AssetKey(asset))
        if partitions:
            requested[asset] = sorted(key or "" for key in partitions)
    return requested


def test_new_partitions_run_once_and_new_results_refresh_the_aggregate(
    instance: DagsterInstance, settings: RuntimeSettings
) -> None:
    defs = build_definitions(settings)
    # Registered before automation first looks: runs too (whichever sensor ticks first).
    instance.add_dynamic_partitions("variants", ["base"])
    instance.add_dynamic_partitions("parts", ["a"])
    result = evaluate_automation_conditions(defs, instance)
    # The part first; its backtests once it is validated (parts and backtest_results are
    # partitioned differently, so one run cannot hold both).
    assert _requested(result) == {"parts": ["a"]}
    instance.report_runless_asset_event(AssetMaterialization("parts", partition="a"))
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {"backtest_results": ["a|base"]}
    # Requested once: a failed run leaves it missing, and it is not requested again.
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {}

    instance.add_dynamic_partitions("parts", ["b"])
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {"parts": ["b"]}
    instance.report_runless_asset_event(AssetMaterialization("parts", partition="b"))
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {"backtest_results": ["b|base"]}

    # A new result (a stays without one): the aggregate and the leaderboard, once.
    instance.report_runless_asset_event(
        AssetMaterialization("backtest_results", partition="b|base")
    )
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {"aggregate_metrics": [""], "sweep_leaderboard": [""]}
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {}

    # A new variant (a sweep file's point, registered by register_sweep_files): every part
    # runs for it, with no click; the parts themselves are not requested again.
    instance.add_dynamic_partitions("variants", ["order_qty=0.1-0123456789ab"])
    result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert _requested(result) == {
        "backtest_results": ["a|order_qty=0.1-0123456789ab", "b|order_qty=0.1-0123456789ab"]
    }


def test_one_setting_turns_automation_off(settings: RuntimeSettings) -> None:
    on = build_definitions(settings)
    assert on.resolve_sensor_def(AUTOMATION_SENSOR).default_status == DefaultSensorStatus.RUNNING
    off = build_definitions(settings.model_copy(update={"automation": "off"}))
    graph = off.resolve_asset_graph()
    assert all(graph.get(key).automation_condition is None for key in graph.get_all_asset_keys())
    with pytest.raises(Exception, match=AUTOMATION_SENSOR):
        off.resolve_sensor_def(AUTOMATION_SENSOR)
    assert not load_settings({"TRADING_RUNTIME_AUTOMATION": "off"}).automation_enabled
    with pytest.raises(ValueError, match="TRADING_RUNTIME_AUTOMATION"):
        load_settings({"TRADING_RUNTIME_AUTOMATION": "yes"})
    # On Kubernetes only when asked for (every automated run starts pods).
    k8s = {"TRADING_RUNTIME_ENV": "k8s", "TRADING_RUNTIME_RESULTS": "s3://bucket/results"}
    assert not load_settings(k8s).automation_enabled
    assert load_settings({**k8s, "TRADING_RUNTIME_AUTOMATION": "on"}).automation_enabled
