"""The checks read their partitions' recent materializations together, with what one query per
partition read."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import AssetKey, AssetMaterialization, DagsterInstance

from trading_runtime.defs import checks

KEY = AssetKey("backtest_results")


def _materialize(instance: DagsterInstance, partition: str, run: int) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(KEY, partition=partition, metadata={"run": run, "part": partition})
    )


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def _one_by_one(instance: DagsterInstance, keys: list[str], limit: int) -> dict[str, Any]:
    return {key: checks._recent_metadata(instance, KEY, key, limit) for key in keys}


def test_read_together_as_one_by_one_in_few_queries(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"part-{i:05d}" for i in range(30)]
    for run in range(3):  # three runs over most parts; part-00000 once, part-00029 never
        for key in keys[1:-1]:
            _materialize(instance, key, run)
    _materialize(instance, keys[0], 0)
    queries: list[Any] = []
    fetch = instance.fetch_materializations

    def counted(*args: Any, **kwargs: Any) -> Any:
        queries.append(args)
        return fetch(*args, **kwargs)

    monkeypatch.setattr(instance, "fetch_materializations", counted)
    for limit in (1, 2):
        queries.clear()
        together = checks.recent_metadata_by_partition(instance, KEY, keys, limit)
        assert len(queries) <= 2
        assert together == _one_by_one(instance, keys, limit)
    assert together[keys[5]] == [{"run": 2, "part": keys[5]}, {"run": 1, "part": keys[5]}]
    assert together[keys[0]] == [{"run": 0, "part": keys[0]}] and together[keys[-1]] == []


def test_a_partition_behind_a_long_history_is_read_on_its_own(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _materialize(instance, "old", 0)
    for run in range(10):
        _materialize(instance, "busy", run)
    monkeypatch.setattr(checks, "_BATCH_PAGES", 1)
    monkeypatch.setattr(checks, "_BATCH_PARTITIONS", 1000)
    keys = ["busy", "old", "other"]
    together = checks.recent_metadata_by_partition(instance, KEY, keys, 2)
    assert together == _one_by_one(instance, keys, 2)
    assert together["old"] == [{"run": 0, "part": "old"}]


def test_many_partitions_are_read_in_groups(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "_BATCH_PARTITIONS", 4)
    keys = [f"p{i}" for i in range(10)]
    for run in range(2):
        for key in keys:
            _materialize(instance, key, run)
    assert checks.recent_metadata_by_partition(instance, KEY, keys, 2) == _one_by_one(
        instance, keys, 2
    )
