"""The assets downstream of every result: ``aggregate_metrics`` (the base config's results, one
row per part) and ``sweep_leaderboard`` (the sweep files' variants ranked across parts)."""

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from trading_runtime.config import ConfigError
from trading_runtime.data.parts_store import scan_parts
from trading_runtime.defs.assets import GROUP, chart_metadata, readable
from trading_runtime.defs.io_managers import BacktestResultsIOManager
from trading_runtime.defs.metadata import CHART_PATH_METADATA
from trading_runtime.defs.partitions import (
    BASE_VARIANT_KEY,
    PARTS_PARTITIONS,
    result_key,
    split_result_key,
)
from trading_runtime.results import BacktestResult, ResultIntegrityError
from trading_runtime.results.aggregate import aggregate, write_aggregate_chart
from trading_runtime.results.charts import markdown_image
from trading_runtime.results.store import stored_result_keys
from trading_runtime.storage import StorageError, storage_error

__all__ = ["aggregate_metrics", "sweep_leaderboard"]

RESULTS_ASSET = "backtest_results"


def _store(context: AssetExecutionContext) -> BacktestResultsIOManager:
    io_manager = context.resources.results_io_manager
    if not isinstance(io_manager, BacktestResultsIOManager):
        raise Failure(
            description="results_io_manager must be the project's BacktestResultsStore: the"
            f" summaries read the stored results themselves (got {type(io_manager).__name__})",
            allow_retries=False,
        )
    return io_manager


def _load(store: BacktestResultsIOManager, keys: list[str]) -> dict[str, BacktestResult]:
    try:
        return store.load_many(keys)
    except (StorageError, ResultIntegrityError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def _orphaned_results(
    context: AssetExecutionContext,
    store: BacktestResultsIOManager,
    stored: dict[str, BacktestResult],
    known: Sequence[str],
) -> list[str]:
    """Stored results whose part is gone: no partition any more (the sensor or the CLI removed
    it), or a partition whose file was deleted since. Their results are dropped from ``stored``;
    stored data is never deleted."""
    listing = scan_parts(context.resources.parts_dir.path)
    # An unreachable parts directory says nothing about which parts were deleted.
    gone = set(known) - set(listing.keys) if listing.found else set()
    for key in gone & set(stored):
        del stored[key]
    on_storage = set(stored_result_keys(store.results_base))
    return sorted(on_storage - (set(known) - gone))


def _aggregate_chart(store: BacktestResultsIOManager, table: pa.Table) -> dict[str, Any]:
    """The aggregate's chart as metadata, stored beside the results
    (``<results>/aggregate_metrics.png``)."""
    alt = "aggregate_metrics: PnL and max drawdown per part"
    try:
        png, path = write_aggregate_chart(table, store.results_base)
    except StorageError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    except OSError as exc:  # a read-only or full disk: one line naming the file
        raise Failure(description=str(storage_error(exc)), allow_retries=False) from None
    return {**chart_metadata(png, alt), CHART_PATH_METADATA: MetadataValue.path(str(path))}


@asset(
    group_name=GROUP,
    deps=[RESULTS_ASSET],
    io_manager_key="table_io_manager",
    required_resource_keys={"parts_dir", "results_io_manager"},
    kinds={"parquet"},
    description=(
        "The configured backtest's results (variant `base`): one row per backtested part plus a"
        " TOTAL row. Results of parts whose file is gone are left out and reported as"
        " orphaned_results. Sweep variants are ranked by sweep_leaderboard."
    ),
)
def aggregate_metrics(context: AssetExecutionContext) -> Output[pa.Table]:
    store = _store(context)
    known = context.instance.get_dynamic_partitions(PARTS_PARTITIONS)
    loaded = _load(store, [result_key(part, BASE_VARIANT_KEY) for part in known])
    stored = {split_result_key(key)[0]: result for key, result in loaded.items()}
    orphaned = _orphaned_results(context, store, stored, known)
    if orphaned:
        context.log.warning(
            f"{len(orphaned)} stored result(s) without a part file, not aggregated (orphaned):"
            f" {', '.join(orphaned[:10])}{' ...' if len(orphaned) > 10 else ''}"
        )
    summary = aggregate(stored)
    table, total, mixed = summary.table, summary.total, summary.mixed
    chart = _aggregate_chart(store, table)  # metadata: the chart and where it is stored
    missing = sorted(set(known) - set(stored) - set(orphaned))
    if mixed:
        context.log.warning(
            f"parts come from different {', '.join(mixed)}: re-materialize backtest_results for"
            " every part after a config, strategy or engine change"
        )
    return Output(
        table,
        metadata={
            **chart,
            "parts": len(stored),
            "parts_without_result": len(missing),
            "first_parts_without_result": MetadataValue.json(missing[:100]),
            "orphaned_results": len(orphaned),
            "first_orphaned_results": MetadataValue.json(orphaned[:100]),
            "mixed_provenance": MetadataValue.json(mixed),
            "config_hash": total["config_hash"],
            "total_pnl": readable(total["pnl"]),
            "total_trades": total["trades"],
            "worst_max_drawdown": readable(total["max_drawdown"]),
            "table": MetadataValue.md(summary.markdown),
        },
    )


@asset(
    group_name=GROUP,
    deps=[RESULTS_ASSET],
    required_resource_keys={"results_io_manager", "backtest_runner"},
    kinds={"parquet"},  # the table; no IO manager: the files are written where the CLI writes them
    description=(
        "The sweep files' variants ranked across parts: per-part PnL statistics, the probability"
        " of backtest overfitting (CSCV), the deflated Sharpe ratio of the best and walk-forward"
        " selection; written to <results>/leaderboard.* with three pictures."
    ),
)
def sweep_leaderboard(context: AssetExecutionContext) -> MaterializeResult:
    from trading_runtime.sweeps.ranking import rank_variants

    store = _store(context)
    runner = context.resources.backtest_runner
    try:
        config = runner.load_config()
    except ConfigError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    current = runner.current_variants(config)
    for name, problem in current.problems.items():
        context.log.warning(f"sweep file {name} left out: {problem}")
    if not current.variants:
        note = f"no sweep files in {runner.sweeps_dir}"
        return MaterializeResult(metadata={"variants": 0, "note": note})
    try:
        ranked = rank_variants(store.results_base, config, list(current.variants.values()))
    except (StorageError, ResultIntegrityError, ValueError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    if ranked is None:
        return MaterializeResult(metadata={"variants": len(current.variants), "cells_stored": 0})
    pictures = {
        f"{name}_chart": MetadataValue.md(markdown_image(png, f"sweep_leaderboard: {name}"))
        for name, png in ranked.pngs.items()
    }
    return MaterializeResult(
        metadata={
            "variants": len(current.variants),
            "sweep_files": MetadataValue.json(current.by_file),
            "cells_stored": ranked.stored.stored,
            "table": MetadataValue.md(ranked.text),
            "summary": MetadataValue.json(ranked.summary),
            "path": MetadataValue.path(str(ranked.files.table)),
            **pictures,
        },
    )
