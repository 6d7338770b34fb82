"""Declarative automation: a new part or variant runs itself, then the summaries refresh.

The flow with the daemon running (``make dev``): a raw file dropped into ``<raw>/<format>/``
becomes a ``raw_market_data`` partition (``register_raw_files``), which the automation sensor
requests as missing; its materialization writes parts and registers them as ``parts``
partitions. ``register_part_files`` adds a partition for a new part file too, and
``register_sweep_files`` a variant for each point of a new sweep file; on its next tick the
automation sensor sees ``parts`` missing and requests it, and once the part is validated requests
``backtest_results`` for it, for every variant (one run, or one backfill for several partitions,
run as the asset's single-run backfill policy says; a new variant is requested on every part the
same way); once no ``backtest_results`` partition is in progress, a result newer than them
requests ``aggregate_metrics`` and ``sweep_leaderboard``. (``parts`` and ``backtest_results`` are
partitioned differently, so one run cannot hold both: the backtest waits for its part's
validation.)

A changed raw file is re-converted, and the parts that conversion changed backtested again, by
``register_raw_files``'s run requests (Dagster 1.13 cannot map one raw partition to its parts,
see defs/lineage.py, so no condition can see it).

Deliberately not automatic: retrying failed partitions (a failing part would run on every tick;
``make run`` retries them), and re-running results made stale by a config or strategy edit (the
UI marks them stale; re-running every part is a decision: ``make run`` or a backfill).
Settings: ``TRADING_RUNTIME_AUTOMATION``; the run queue in the instance's ``dagster.yaml`` bounds
how many runs go at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

__all__ = [
    "AUTOMATION_SENSOR",
    "AUTOMATION_TAG",
    "aggregate_condition",
    "automation_sensor",
    "new_partition_condition",
    "with_automation",
]

AUTOMATION_SENSOR = "backtest_new_parts"
AUTOMATION_TAG = "trading_runtime/automated"
# Seconds between evaluations: with the registration sensor's 15 s, a new part's run is requested
# within about 30 s of the file appearing. An evaluation reads the instance only.
AUTOMATION_INTERVAL_S = 15


def new_partition_condition() -> AutomationCondition[Any]:
    """``parts`` and ``backtest_results``: a partition that is missing and not yet requested
    (every partition once: missing when automation first runs, or added later), or whose
    upstream part was re-validated; never while it or its part is in progress.

    Unlike ``AutomationCondition.eager()``, partitions already missing at the first evaluation
    count too: whether the registration sensor or the automation sensor ticks first after a
    start must not decide whether the registered parts run. A failed partition is not retried
    (it stays missing but was requested)."""
    missing_not_requested = (
        AutomationCondition.missing()
        .newly_true()
        .since(AutomationCondition.newly_requested() | AutomationCondition.newly_updated())
        .with_label("missing, not yet requested")
    )
    return (
        (missing_not_requested | AutomationCondition.any_deps_updated().since_last_handled())
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("new part")


def aggregate_condition() -> AutomationCondition[Any]:
    """``aggregate_metrics``: any ``backtest_results`` partition materialized since the aggregate
    was last requested or materialized, and none in progress (one aggregate after a batch, not
    one per partition). Unlike ``eager`` it does not wait for every partition to have a result:
    a failed part would otherwise keep the aggregate stale for ever."""
    return (
        AutomationCondition.any_deps_match(AutomationCondition.newly_updated())
        .since_last_handled()
        .with_label("any result updated since last handled")
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after new results")


def with_automation(assets: Sequence[AssetsDefinition]) -> list[AssetsDefinition]:
    """The assets with their automation conditions."""
    conditions = {
        "raw_market_data": new_partition_condition(),
        "parts": new_partition_condition(),
        "backtest_results": new_partition_condition(),
        "aggregate_metrics": aggregate_condition(),
        "sweep_leaderboard": aggregate_condition(),
    }
    return [
        asset.map_asset_specs(
            lambda spec: spec.replace_attributes(
                automation_condition=conditions[spec.key.to_user_string()]
            )
        )
        for asset in assets
    ]


def automation_sensor() -> AutomationConditionSensorDefinition:
    """Dagster's automation sensor for the backtest assets, running from the instance's first
    start, at the interval above."""
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.assets(
            "raw_market_data", "parts", "backtest_results", "aggregate_metrics", "sweep_leaderboard"
        ),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=AUTOMATION_INTERVAL_S,
        run_tags={AUTOMATION_TAG: "true"},
        description=(
            "Converts new raw files, backtests new parts and new sweep variants, and refreshes"
            " aggregate_metrics and sweep_leaderboard after new results (see each asset's"
            " automation condition). Off: TRADING_RUNTIME_AUTOMATION=off."
        ),
    )
