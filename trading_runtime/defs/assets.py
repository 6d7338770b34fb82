"""The per-partition assets: parts -> backtest_results (part x variant); what summarises
them is in summary_assets.py."""

import warnings
from typing import Any

from dagster import (
    AssetExecutionContext,
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
from trading_runtime.backtest.staging import StagedBacktests
from trading_runtime.config import ConfigError
from trading_runtime.data.part_info import PartInfo
from trading_runtime.defs.dagster_compat import add_partition_metadata
from trading_runtime.defs.lineage import raw_source_metadata
from trading_runtime.defs.metadata import FAILURES_METADATA
from trading_runtime.defs.partitions import (
    part_partitions,
    result_key,
    result_partitions,
    split_result_key,
)
from trading_runtime.defs.resources import BacktestRunner, PartsDirectory
from trading_runtime.layout import PartNameError
from trading_runtime.results import RESULT_INPUTS, BacktestResult
from trading_runtime.results.charts import markdown_image
from trading_runtime.storage import storage_error

# BackfillPolicy and Output(data_version=...) are marked beta; they are the documented way to get
# single-run backfills and content-hash data versions.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*(backfill_policy|data_version)")

__all__ = ["GROUP", "chart_metadata", "make_backtest_results", "parts", "readable"]

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
        partitions_def=result_partitions,
        group_name=GROUP,
        deps=[parts],  # each part x variant partition depends on its part
        code_version=code_version,
        io_manager_key="results_io_manager",
        backfill_policy=BackfillPolicy.single_run(),
        op_tags=op_tags or None,
        kinds={"hftbacktest", "parquet"},
        description=(
            "A variant of the configured backtest (the config itself, `base`, or a sweep file's"
            " point) run on one part: equity/position curve (parquet), stats (hftbacktest record"
            " .npz), metrics and provenance."
        ),
    )
    def backtest_results(
        context: AssetExecutionContext, parts_dir: PartsDirectory, backtest_runner: BacktestRunner
    ) -> Output[Any]:
        try:
            config = backtest_runner.load_config()
        except ConfigError as exc:
            raise Failure(description=str(exc), allow_retries=False) from None
        by_variant: dict[str, list[str]] = {}
        for key in _partition_keys(context):
            part, variant = split_result_key(key)
            by_variant.setdefault(variant, []).append(part)
        configs = backtest_runner.variant_configs(config, list(by_variant))
        failures: dict[str, Exception] = {}
        results: dict[str, BacktestResult] = {}
        staged_runs: list[StagedBacktests] = []
        for variant, variant_parts in by_variant.items():
            effective = configs[variant]
            if isinstance(effective, str):
                failures.update(
                    {result_key(p, variant): ValueError(effective) for p in variant_parts}
                )
                continue
            try:
                staged = backtest_runner.stage(
                    effective, _locations(parts_dir, variant_parts), context.run.run_id
                )
            except OSError as exc:  # the staging area on a read-only or full disk
                for earlier in staged_runs:
                    earlier.discard()
                raise Failure(description=str(storage_error(exc)), allow_retries=False) from None
            staged_runs.append(staged)
            failures.update({result_key(p, variant): e for p, e in staged.failures.items()})
            results.update({result_key(p, variant): r for p, r in staged.results.items()})
        if failures:
            for staged in staged_runs:
                staged.discard()  # a failed step stores nothing
            _raise_failures("backtest(s)", failures)
        # The IO manager publishes each result and removes the staging directory.
        metadata = {
            key: {
                **result_metadata(result),
                **raw_source_metadata(parts_dir.path, result.partition),
                "variant": split_result_key(key)[1],
            }
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
