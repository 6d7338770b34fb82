"""Keep the variant partitions in step with the sweep files: ``base`` always, and every point of
every sweep file in the sweeps directory, planned against the current config. A variant whose
file went (or whose key a config edit changed) loses its partition; its stored results stay,
and the trials ledger still counts it."""

import json

from dagster import (
    AddDynamicPartitionsRequest,
    DefaultSensorStatus,
    DeleteDynamicPartitionsRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from trading_runtime.config import ConfigError
from trading_runtime.defs.partitions import (
    VARIANTS_PARTITIONS,
    unregistered_part_keys,
    vanished_part_keys,
    variant_partitions,
)
from trading_runtime.defs.resources import BacktestRunner

__all__ = ["register_sweep_files"]

_SHOWN = 10


def _reported(cursor: str | None) -> set[str]:
    try:
        document = json.loads(cursor) if cursor else {}
        return {str(line) for line in document.get("reported", [])}
    except (ValueError, AttributeError, TypeError):
        return set()


@sensor(
    name="register_sweep_files",
    description=(
        "Adds a backtest_results variant partition for `base` (the config) and for every point"
        " of every sweep file (*.json) in the sweeps directory, removes those no file gives any"
        " more, and reports once each sweep file that does not plan, with why."
    ),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def register_sweep_files(
    context: SensorEvaluationContext, backtest_runner: BacktestRunner
) -> SensorResult:
    try:
        config = backtest_runner.load_config()
    except ConfigError as exc:
        # Variants are planned over the config: with none, leave them as they are.
        return SensorResult(skip_reason=f"config not loadable: {exc}", cursor=context.cursor)
    current = backtest_runner.current_variants(config)
    problems = {f"{name}: {problem}" for name, problem in current.problems.items()}
    for line in sorted(problems - _reported(context.cursor)):
        context.log.warning(f"sweep file {line}")
    keys = current.keys
    new_keys = unregistered_part_keys(context.instance, keys, VARIANTS_PARTITIONS)
    gone_keys = vanished_part_keys(context.instance, keys, VARIANTS_PARTITIONS)
    requests: list[AddDynamicPartitionsRequest | DeleteDynamicPartitionsRequest] = []
    if new_keys:
        shown = ", ".join(new_keys[:_SHOWN])
        context.log.info(f"registering {len(new_keys)} variant(s): {shown}")
        requests.append(variant_partitions.build_add_request(new_keys))
    if gone_keys:
        shown = ", ".join(gone_keys[:_SHOWN])
        context.log.warning(f"removing {len(gone_keys)} variant(s) no sweep file gives: {shown}")
        requests.append(variant_partitions.build_delete_request(gone_keys))
    cursor = json.dumps({"reported": sorted(problems)})
    if requests:
        return SensorResult(dynamic_partitions_requests=requests, cursor=cursor)
    return SensorResult(
        skip_reason=f"variants unchanged ({len(keys)}; sweeps in {backtest_runner.sweeps_dir})",
        cursor=cursor,
    )
