"""The variants a `materialize` covers: registered as partitions (what ``register_sweep_files``
does), planned one by one (``freshness.plan`` per variant, each with its own config and results
base), and grouped into single-run backfills (a Dagster range over part x variant is a box: a
stretch of parts times a stretch of variants, each in registration order)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagster import DagsterInstance

from trading_runtime.config import BacktestConfig
from trading_runtime.defs.partitions import BASE_VARIANT_KEY, VARIANTS_PARTITIONS
from trading_runtime.freshness.damage import result_hash_cache
from trading_runtime.freshness.plan import BacktestPlan, plan_backtests
from trading_runtime.runs.instance import (
    part_hash_cache,
    partition_statuses,
    register_partitions,
    remove_vanished_parts,
)
from trading_runtime.runs.launch import contiguous_stretches
from trading_runtime.sweeps.registry import (
    CurrentVariants,
    variant_config,
)
from trading_runtime.sweeps.stored import variant_results_base

__all__ = ["Box", "plan_variant_runs", "register_variants", "result_boxes", "scoped_configs"]


def register_variants(
    instance: DagsterInstance, current: CurrentVariants
) -> tuple[list[str], list[str]]:
    """Make the variant partitions ``base`` and the sweep files' variants: (new, removed)."""
    removed = remove_vanished_parts(instance, current.keys, VARIANTS_PARTITIONS)
    new = register_partitions(instance, current.keys, VARIANTS_PARTITIONS)
    return new, removed


def scoped_configs(
    config: BacktestConfig,
    config_path: str,
    current: CurrentVariants,
    only: Sequence[str] | None = None,
) -> dict[str, BacktestConfig]:
    """Each variant's effective config, ``base`` first; only those of ``only`` when given."""
    keys = list(only) if only is not None else current.keys
    return {
        key: config
        if key == BASE_VARIANT_KEY
        else variant_config(config, config_path, current.variants[key])
        for key in keys
    }


def plan_variant_runs(
    instance: DagsterInstance,
    configs: Mapping[str, BacktestConfig],
    parts: Sequence[str],
    *,
    parts_dir: str,
    results: str,
    force: bool,
) -> dict[str, BacktestPlan]:
    """Each variant's plan over ``parts``: its stored results are under its own results base."""
    hashes, result_hashes = part_hash_cache(), result_hash_cache()
    return {
        key: plan_backtests(
            parts,
            statuses=partition_statuses(instance, parts, key),
            config=effective,
            parts_dir=parts_dir,
            results=str(variant_results_base(results, key)),
            hashes=hashes,
            result_hashes=result_hashes,
            force=force,
        )
        for key, effective in configs.items()
    }


@dataclass(frozen=True)
class Box:
    """One single-run backfill: every part of ``parts`` for every variant of ``variants``."""

    parts: list[str]
    variants: list[str]

    @property
    def size(self) -> int:
        return len(self.parts) * len(self.variants)


def result_boxes(
    part_order: Sequence[str], variant_order: Sequence[str], to_run: Mapping[str, Sequence[str]]
) -> list[Box]:
    """``to_run`` (parts by variant) as few boxes as the orders allow: variants whose part
    stretches are the same, neighbours in ``variant_order``, share their boxes."""
    by_stretches: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for variant in variant_order:
        if to_run.get(variant):
            stretches = contiguous_stretches(part_order, to_run[variant])
            by_stretches.setdefault(tuple(map(tuple, stretches)), []).append(variant)
    boxes: list[Box] = []
    for part_stretches, variants in by_stretches.items():
        for block in contiguous_stretches(variant_order, variants):
            boxes.extend(Box(list(stretch), block) for stretch in part_stretches)
    return boxes
