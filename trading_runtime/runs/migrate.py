"""From one partition per part to part x variant: the Dagster records of an instance made before
``backtest_results`` had a variant dimension.

Stored results need nothing: the configured backtest's (variant ``base``) stay in
``<results>/backtest_results/<part>/``. What changes is the partition key Dagster records them
under: ``<part>`` before, ``<part>|base`` now. Without migrating, `materialize` runs every part
again once ("not recorded in the Dagster instance") and stores the same bytes; migrating records
each part's latest materialization again under its new key (a runless materialization with the
same metadata and data version), so the plan finds them up to date.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetMaterialization, AssetRecordsFilter, DagsterInstance

from trading_runtime.defs.partitions import BASE_VARIANT_KEY, result_key
from trading_runtime.runs.instance import RESULTS_ASSET, register_parts

__all__ = ["DATA_VERSION_TAG", "migrate_part_keyed_results"]

DATA_VERSION_TAG = "dagster/data_version"


def _latest(instance: DagsterInstance, partition: str) -> AssetMaterialization | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RESULTS_ASSET, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization if records else None


def migrate_part_keyed_results(instance: DagsterInstance, parts: Sequence[str]) -> list[str]:
    """Record each of ``parts``' latest part-keyed ``backtest_results`` materialization under
    ``<part>|base`` unless that key has one already; the parts migrated. Idempotent."""
    register_parts(instance, parts)  # the parts and the base variant are partitions
    migrated = []
    for part in parts:
        old = _latest(instance, part)
        new_key = result_key(part, BASE_VARIANT_KEY)
        if old is None or _latest(instance, new_key) is not None:
            continue
        tags = {k: v for k, v in (old.tags or {}).items() if k == DATA_VERSION_TAG}
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=RESULTS_ASSET,
                partition=new_key,
                description=f"migrated from partition {part} (before variants)",
                metadata=old.metadata,
                tags=tags or None,
            )
        )
        migrated.append(part)
    return migrated
