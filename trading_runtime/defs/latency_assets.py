"""``order_latency``: a part's order latency derived from its own feed
(``data.ingest.feed_latency``), written where the config's ``intp_order_latency`` reads it:
``<parts>/latency/<file>``, one file per part.

An optional step: no job and no automation condition selects it, so a hand-made latency file is
only replaced when someone asks for that part's: materializing this asset (the UI),
``trading-runtime data latency --force``, or a raw conversion with
``TRADING_RUNTIME_RAW_LATENCY=on`` that makes the part again."""

import hashlib
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

import trading_runtime
from trading_runtime.config import LATENCY_DIR, ConfigError
from trading_runtime.data.ingest.feed_latency import (
    DEFAULT_METHOD,
    LatencyMethod,
    latency_percentiles,
    write_order_latency,
)
from trading_runtime.data.latency import per_part_latency_name
from trading_runtime.data.part_info import sha256_file
from trading_runtime.defs.metadata import partition_failure
from trading_runtime.defs.partitions import PARTS_PARTITIONS, part_partitions
from trading_runtime.defs.resources import BacktestRunner, PartsDirectory
from trading_runtime.layout import PartNameError

__all__ = ["ORDER_LATENCY_ASSET", "latency_code_version", "make_order_latency"]

ORDER_LATENCY_ASSET = "order_latency"
GROUP = "backtests"


def latency_code_version(method: LatencyMethod) -> str:
    """What decides a file besides the part's bytes: the runtime, hftbacktest (whose helper
    computes the rows) and the method's parameters."""
    inputs = [trading_runtime.__version__, version("hftbacktest"), repr(method)]
    return "latency-" + hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16]


def _part_path(parts_dir: PartsDirectory, key: str) -> Path:
    if "://" in parts_dir.path:
        raise partition_failure(
            key, f"latency files are written beside local parts, not in {parts_dir.path}"
        )
    try:
        return Path(parts_dir.location(key).path)
    except PartNameError as exc:
        raise partition_failure(key, str(exc)) from None


def make_order_latency(method: LatencyMethod = DEFAULT_METHOD) -> AssetsDefinition:
    """``order_latency``, one partition per part, after ``parts``, with ``method``."""

    @asset(
        name=ORDER_LATENCY_ASSET,
        partitions_def=part_partitions,
        deps=[AssetDep(PARTS_PARTITIONS)],
        group_name=GROUP,
        code_version=latency_code_version(method),
        kinds={"hftbacktest", "numpy"},
        description=(
            "A part's order latency from its feed latency (hftbacktest's 'Order Latency Data'"
            f" method: sampled every {method.interval_ns / 1e9:g} s, entry"
            f" {method.entry_multiplier:g}x and response {method.response_multiplier:g}x the"
            " feed latency), written to latency/ beside the parts, named as the config's"
            " intp_order_latency file. Optional: materialized on request only."
        ),
    )
    def order_latency(
        context: AssetExecutionContext, parts_dir: PartsDirectory, backtest_runner: BacktestRunner
    ) -> MaterializeResult:
        key = context.partition_key
        part = _part_path(parts_dir, key)
        try:
            name = per_part_latency_name(backtest_runner.load_config().engine)
        except ConfigError as exc:
            raise partition_failure(key, str(exc)) from None
        # Materializing is asking for the file: it replaces the one there (--force).
        report = write_order_latency(
            [part], part.parent / LATENCY_DIR, name, method=method, force=True
        )
        if report.errors:
            raise partition_failure(key, report.errors[0])
        ((_, target, rows),) = [(w.part, w.path, w.rows) for w in report.written]
        sha256 = sha256_file(target)
        metadata: dict[str, Any] = {
            "path": MetadataValue.path(str(target)),
            "file": f"{LATENCY_DIR}/{target.name}",
            "rows": len(rows),
            "sha256": sha256,
            **latency_percentiles(rows),
        }
        context.log.info(f"{key}: {len(rows)} order-latency rows -> {target}")
        return MaterializeResult(metadata=metadata, data_version=DataVersion(sha256))

    return order_latency
