"""Result storage on any UPath (a local directory now, an object store URL on a cluster).

Each ``backtest_results`` partition is a directory ``<base>/backtest_results/<part>/`` (a sweep
variant's under ``<base>/<variant id>/``) with
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
from trading_runtime.defs.partitions import result_key, split_result_key
from trading_runtime.freshness.damage import damaged_error, damaged_results, load_verified
from trading_runtime.layout import RESULT_FILE, check_part_key
from trading_runtime.results import BacktestResult
from trading_runtime.results.store import stored_result_keys
from trading_runtime.storage import read_parquet, storage_error, write_parquet
from trading_runtime.sweeps.stored import variant_partitions_dir

__all__ = [
    "ArrowParquetIOManager",
    "BacktestResultsIOManager",
    "BacktestResultsStore",
    "ParquetTableStore",
]


class BacktestResultsIOManager(UPathIOManager):
    """Stores ``BacktestResult`` directories; loads them back as metrics + provenance (the curve
    stays on storage until ``read_curve()``).

    A partition is ``<part>|<variant>``; its directory is ``<variant's results base>/
    backtest_results/<part>/`` (``sweeps.stored.variant_results_base``: the base config's
    results where they always were, a sweep variant's under ``<results>/<id>/``). Supports
    single-run backfills: an output covering several partitions is a
    ``dict[partition_key, BacktestResult]``, stored partition by partition.
    """

    extension = None

    def __init__(self, base_path: UPath) -> None:
        super().__init__(base_path=base_path)
        self.results_base = base_path  # the base class keeps it private

    def result_path(self, key: str) -> UPath:
        """A partition's directory. The part becomes a directory name: only a valid part name,
        never one that resolves to the directory itself or outside it (PartNameError)."""
        part, variant = split_result_key(key)
        return variant_partitions_dir(self.results_base, variant) / check_part_key(part)

    def get_path_for_partition(
        self, context: InputContext | OutputContext, path: UPath, partition: str
    ) -> UPath:
        # Wherever the base class builds a partition's path, it is ``result_path``'s.
        return self.result_path(partition)

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
        keys = list(context.asset_partition_keys)
        outputs = obj if isinstance(obj, dict) else {keys[0]: obj}
        missing = sorted(set(keys) - set(outputs))
        if missing:
            raise ValueError(f"no result for partitions {missing}")
        for key in sorted(outputs):
            path = self.result_path(key)
            self.make_directory(path.parent)
            self.dump_to_path(context, outputs[key], path)

    def load_input(self, context: InputContext) -> Any:
        keys = list(context.asset_partition_keys)
        if len(keys) == 1:
            return self.load_from_path(context, self.result_path(keys[0]))
        return self.load_many(keys)

    def load_many(self, keys: list[str]) -> dict[str, BacktestResult]:
        """Many partitions (a downstream asset over all of them): one listing per variant and
        one result.json read per stored partition, logged once (the base class logs a line per
        partition, each an event-log write). Partitions without a result are skipped; damaged
        ones fail the load, named (``load_verified``)."""
        by_variant: dict[str, list[str]] = {}
        for key in keys:
            part, variant = split_result_key(key)
            by_variant.setdefault(variant, []).append(check_part_key(part))
        loaded: dict[str, BacktestResult] = {}
        for variant, parts in by_variant.items():
            directory = variant_partitions_dir(self.results_base, variant)
            stored = set(stored_result_keys(self.results_base, partitions=directory))
            found = load_verified(
                self.results_base, [p for p in parts if p in stored], partitions=directory
            )
            loaded.update({result_key(part, variant): r for part, r in found.items()})
        return loaded

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
