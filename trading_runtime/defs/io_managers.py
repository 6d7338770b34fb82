"""Result storage on any UPath (a local directory now, an object store URL on a cluster).

Each ``backtest_results`` partition is a directory ``<base>/backtest_results/<part>/`` with
``curve.parquet``, ``stats.npz`` (hftbacktest's record format), the framework's ``events.jsonl``
when there is one, and ``result.json`` (metrics + provenance), written last.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    MetadataValue,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from trading_runtime.backtest.publish import publish_result
from trading_runtime.freshness.damage import damaged_error, damaged_results, load_verified
from trading_runtime.layout import RESULT_FILE, check_part_key
from trading_runtime.results import BacktestResult
from trading_runtime.results.store import stored_result_keys
from trading_runtime.storage import read_parquet, storage_error, write_parquet

__all__ = [
    "ArrowParquetIOManager",
    "BacktestResultsIOManager",
    "BacktestResultsStore",
    "ParquetTableStore",
]


class BacktestResultsIOManager(UPathIOManager):
    """Stores ``BacktestResult`` directories; loads them back as metrics + provenance (the curve
    stays on storage until ``read_curve()``).

    Supports single-run backfills: an output covering several partitions is a
    ``dict[partition_key, BacktestResult]``, stored partition by partition.
    """

    extension = None

    def __init__(self, base_path: UPath) -> None:
        super().__init__(base_path=base_path)
        self.results_base = base_path  # the base class keeps it private

    def get_path_for_partition(
        self, context: InputContext | OutputContext, path: UPath, partition: str
    ) -> UPath:
        # The key becomes a directory name under backtest_results/: only a valid part name,
        # never one that resolves to the directory itself or outside it (PartNameError).
        return super().get_path_for_partition(context, path, check_part_key(partition))

    def dump_to_path(self, context: OutputContext, obj: BacktestResult, path: UPath) -> None:
        try:
            publish_result(obj, path)
        except OSError as exc:  # read-only or full disk: the previous result stays current
            raise storage_error(exc) from exc

    def load_from_path(self, context: InputContext, path: UPath) -> BacktestResult:
        if not (path / RESULT_FILE).exists():
            raise FileNotFoundError(f"no stored backtest result at {path}")
        # A damaged result (a listed file missing or altered, result.json not one) fails the
        # load with one line naming the file; hashes are cached by size and mtime.
        result = BacktestResult.load(path)
        damaged = damaged_results({result.partition: result})
        if damaged:
            raise damaged_error(damaged)
        return result

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if isinstance(obj, dict):
            # The base class stores one partition per output; a single-run step has many.
            asset_path = self.results_base / self.get_asset_relative_path(context)
            paths = {
                key: self.get_path_for_partition(context, asset_path, key)
                for key in context.asset_partition_keys
            }
            missing = sorted(set(paths) - set(obj))
            if missing:
                raise ValueError(f"no result for partitions {missing}")
            for key in sorted(obj):
                self.make_directory(paths[key].parent)
                self.dump_to_path(context, obj[key], paths[key])
            return
        super().handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        if not context.has_asset_partitions or len(context.asset_partition_keys) == 1:
            return super().load_input(context)
        # Many partitions (the aggregate): one listing and one result.json read per stored
        # partition. The base class logs a line per partition, and each log line is an event-log
        # write. Partitions without a result are skipped; the aggregate reports them. Damaged
        # ones fail the load, named (``load_verified``).
        stored = set(stored_result_keys(self.results_base))
        return load_verified(
            self.results_base,
            [check_part_key(k) for k in context.asset_partition_keys if k in stored],
        )

    def get_metadata(self, context: OutputContext, obj: Any) -> dict[str, Any]:
        return {"storage": MetadataValue.text(str(self.results_base))}


class ArrowParquetIOManager(UPathIOManager):
    """``pyarrow.Table`` outputs as parquet files (temp + rename when local)."""

    extension = ".parquet"

    def dump_to_path(self, context: OutputContext, obj: pa.Table, path: UPath) -> None:
        write_parquet(obj, path)

    def load_from_path(self, context: InputContext, path: UPath) -> pa.Table:
        return read_parquet(path)


class _UPathStore(ConfigurableIOManagerFactory):
    """An IO manager rooted at ``base_url`` (a path or a URL that UPath understands)."""

    base_url: str
    storage_options: dict[str, Any] = Field(default_factory=dict)
    io_manager_class: ClassVar[type[UPathIOManager]]

    def create_io_manager(self, context: Any) -> UPathIOManager:
        return self.io_manager_class(base_path=UPath(self.base_url, **self.storage_options))


class BacktestResultsStore(_UPathStore):
    """Backtest result directories, one per partition."""

    io_manager_class = BacktestResultsIOManager


class ParquetTableStore(_UPathStore):
    """Arrow tables as parquet files."""

    io_manager_class = ArrowParquetIOManager
