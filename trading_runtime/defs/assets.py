"""The three assets: parts -> backtest_results -> aggregate_metrics."""

import warnings
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetIn,
    BackfillPolicy,
    BetaWarning,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

import trading_runtime
from trading_runtime.config import ConfigError
from trading_runtime.data.parts_store import scan_parts
from trading_runtime.data.validate import PartInfo
from trading_runtime.defs.dagster_compat import add_partition_metadata
from trading_runtime.defs.io_managers import BacktestResultsIOManager
from trading_runtime.defs.lineage import raw_source_metadata
from trading_runtime.defs.metadata import CHART_PATH_METADATA, FAILURES_METADATA
from trading_runtime.defs.partitions import PARTS_PARTITIONS, part_partitions
from trading_runtime.defs.resources import BacktestRunner, PartsDirectory
from trading_runtime.layout import PartNameError
from trading_runtime.results import RESULT_INPUTS, BacktestResult
from trading_runtime.results.aggregate import aggregate, write_aggregate_chart
from trading_runtime.results.charts import aggregate_chart_png, markdown_image
from trading_runtime.results.store import stored_result_keys
from trading_runtime.storage import StorageError, storage_error

# BackfillPolicy and Output(data_version=...) are marked beta; they are the documented way to get
# single-run backfills and content-hash data versions.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*(backfill_policy|data_version)")

__all__ = ["aggregate_metrics", "make_backtest_results", "parts"]

GROUP = "backtests"
PARTS_CODE_VERSION = f"parts-validation-{trading_runtime.__version__}"


def part_metadata(info: PartInfo) -> dict[str, Any]:
    return {
        "path": MetadataValue.path(info.path),
        "n_events": info.n_events,
        "first_exch_ts": info.first_exch_ts,
        "last_exch_ts": info.last_exch_ts,
        "first_local_ts": info.first_local_ts,
        "last_local_ts": info.last_local_ts,
        **({"min_px": info.min_px, "max_px": info.max_px} if info.min_px is not None else {}),
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
    }


def readable(value: Any) -> Any:
    """A float rounded to 6 significant digits for the UI (full precision stays in
    ``result.json`` and the aggregate table); anything else as it is."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def chart_metadata(png: bytes | None, alt: str) -> dict[str, Any]:
    """A chart in the UI: markdown with the PNG inline (Dagster shows it in the metadata's
    markdown view); nothing when there is no chart."""
    return {"chart": MetadataValue.md(markdown_image(png, alt))} if png else {}


def result_metadata(result: BacktestResult) -> dict[str, Any]:
    provenance = result.provenance
    metadata: dict[str, Any] = {
        **chart_metadata(result.read_chart(), f"{result.partition}: PnL and position"),
        **{name: readable(value) for name, value in result.metrics.items() if value is not None},
    }
    # Every input that determines the result (the determinism check compares them), then more.
    metadata.update({name: provenance[name] for name in RESULT_INPUTS})
    metadata.update(
        {
            "framework_sha": provenance["framework_sha"] or "n/a (embedded hftbacktest)",
            "runtime_git_commit": provenance.get("runtime_git_commit") or "n/a (not an image)",
            "config_id": provenance["config_id"],
            "content_hash": provenance["content_hash"],
            "wall_time_s": round(result.wall_time_s, 3),
            "startup_s": round(result.startup_s, 3),
        }
    )
    return metadata


def _partition_keys(context: AssetExecutionContext) -> list[str]:
    has_partitions = context.has_partition_key or context.has_partition_key_range
    keys = list(context.partition_keys) if has_partitions else []
    if not keys:
        raise Failure(
            description="launch this asset for a partition (a part) or a range of partitions",
            allow_retries=False,
        )
    return keys


def _locations(parts_dir: PartsDirectory, keys: list[str]) -> dict[str, Any]:
    """Part locations by key; a key registered before the part-name rule fails cleanly."""
    try:
        return parts_dir.locations(keys)
    except PartNameError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def _raise_failures(kind: str, failures: dict[str, Exception]) -> None:
    if not failures:
        return
    lines = [f"{key}: {error}" for key, error in sorted(failures.items())]
    raise Failure(
        description=f"{len(failures)} {kind} failed:\n" + "\n".join(lines),
        metadata={
            "failed_partitions": MetadataValue.json(sorted(failures)),
            # One line per failure, for the CLI (``local_runs.failure_messages``).
            FAILURES_METADATA: MetadataValue.json({k: str(e) for k, e in sorted(failures.items())}),
        },
        allow_retries=False,
    )


@asset(
    partitions_def=part_partitions,
    group_name=GROUP,
    code_version=PARTS_CODE_VERSION,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"numpy"},
    description="A part file of hftbacktest events, validated (dtype, non-empty, ordered times).",
)
def parts(
    context: AssetExecutionContext, parts_dir: PartsDirectory, backtest_runner: BacktestRunner
) -> MaterializeResult:
    outcomes = backtest_runner.validate_parts(_locations(parts_dir, _partition_keys(context)))
    _raise_failures("part(s)", {k: v for k, v in outcomes.items() if isinstance(v, Exception)})
    infos = {k: v for k, v in outcomes.items() if isinstance(v, PartInfo)}
    metadata = {
        key: {**part_metadata(info), **raw_source_metadata(parts_dir.path, key)}
        for key, info in infos.items()
    }
    if len(infos) == 1:
        ((key, info),) = infos.items()
        return MaterializeResult(metadata=metadata[key], data_version=DataVersion(info.sha256))
    add_partition_metadata(context, metadata)
    return MaterializeResult()


def make_backtest_results(code_version: str, op_tags: dict[str, Any] | None = None) -> Any:
    """``backtest_results`` with a code version derived from the configured backtest (and, on
    Kubernetes, the pod resources its step needs)."""

    @asset(
        partitions_def=part_partitions,
        group_name=GROUP,
        deps=[parts],
        code_version=code_version,
        io_manager_key="results_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        op_tags=op_tags or None,
        kinds={"hftbacktest", "parquet"},
        description=(
            "The configured backtest run on one part: equity/position curve (parquet), stats"
            " (hftbacktest record .npz), metrics and provenance."
        ),
    )
    def backtest_results(
        context: AssetExecutionContext, parts_dir: PartsDirectory, backtest_runner: BacktestRunner
    ) -> Output[Any]:
        try:
            config = backtest_runner.load_config()
        except ConfigError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        keys = _partition_keys(context)
        try:
            staged = backtest_runner.stage(config, _locations(parts_dir, keys), context.run.run_id)
        except OSError as exc:  # the staging area on a read-only or full disk
            raise Failure(description=str(storage_error(exc)), allow_retries=False) from None
        if staged.failures:
            staged.discard()  # a failed step stores nothing
            _raise_failures("backtest(s)", staged.failures)
        # The IO manager publishes each result and removes the staging directory.
        results = staged.results
        metadata = {
            key: {**result_metadata(result), **raw_source_metadata(parts_dir.path, key)}
            for key, result in results.items()
        }
        if len(results) == 1:
            ((key, result),) = results.items()
            return Output(
                result, metadata=metadata[key], data_version=DataVersion(result.content_hash)
            )
        # One run over many partitions: metadata per partition; Dagster's data version covers the
        # whole step, so each partition's content hash is in its metadata.
        add_partition_metadata(context, metadata)
        return Output(results)

    return backtest_results


def _orphaned_results(
    context: AssetExecutionContext, stored: dict[str, BacktestResult], known: Sequence[str]
) -> list[str]:
    """Stored results whose part is gone: no partition any more (the sensor or the CLI removed
    it), or a partition whose file was deleted since. Their results are dropped from ``stored``;
    stored data is never deleted."""
    listing = scan_parts(context.resources.parts_dir.path)
    # An unreachable parts directory says nothing about which parts were deleted.
    gone = set(known) - set(listing.keys) if listing.found else set()
    dropped = gone & set(stored)
    for key in dropped:
        del stored[key]
    io_manager = context.resources.results_io_manager
    if not isinstance(io_manager, BacktestResultsIOManager):  # results stored elsewhere
        return sorted(dropped)
    on_storage = set(stored_result_keys(io_manager.results_base))
    return sorted(on_storage - (set(known) - gone))


def _aggregate_chart(context: AssetExecutionContext, table: pa.Table) -> dict[str, Any]:
    """The aggregate's chart as metadata, stored beside the results
    (``<results>/aggregate_metrics.png``) when they are in the project's results store."""
    alt = "aggregate_metrics: PnL and max drawdown per part"
    io_manager = context.resources.results_io_manager
    if not isinstance(io_manager, BacktestResultsIOManager):  # results stored elsewhere
        return chart_metadata(aggregate_chart_png(table), alt)
    try:
        png, path = write_aggregate_chart(table, io_manager.results_base)
    except StorageError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    return {**chart_metadata(png, alt), CHART_PATH_METADATA: MetadataValue.path(str(path))}


@asset(
    group_name=GROUP,
    ins={"backtest_results": AssetIn(metadata={"allow_missing_partitions": True})},
    io_manager_key="table_io_manager",
    required_resource_keys={"parts_dir", "results_io_manager"},
    kinds={"parquet"},
    description=(
        "One row per backtested part plus a TOTAL row. Results of parts whose file is gone are"
        " left out and reported as orphaned_results."
    ),
)
def aggregate_metrics(context: AssetExecutionContext, backtest_results: Any) -> Output[pa.Table]:
    stored: dict[str, BacktestResult]
    if isinstance(backtest_results, BacktestResult):  # exactly one partition exists
        stored = {backtest_results.partition: backtest_results}
    else:
        stored = dict(backtest_results or {})
    known = context.instance.get_dynamic_partitions(PARTS_PARTITIONS)
    orphaned = _orphaned_results(context, stored, known)
    if orphaned:
        context.log.warning(
            f"{len(orphaned)} stored result(s) without a part file, not aggregated (orphaned):"
            f" {', '.join(orphaned[:10])}{' ...' if len(orphaned) > 10 else ''}"
        )
    summary = aggregate(stored)
    table, total, mixed = summary.table, summary.total, summary.mixed
    chart = _aggregate_chart(context, table)  # metadata: the chart and where it is stored
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
