"""Result storage on any UPath (a local directory now, an object store URL on a cluster).

Each ``backtest_results`` partition is a directory ``<base>/backtest_results/<part>/`` with
``curve.parquet``, ``stats.npz`` (hftbacktest's record format), the framework's ``events.jsonl``
when there is one, and ``result.json`` (metrics + provenance), written last.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManagerFactory,
    InputContext,
    MetadataValue,
    OutputContext,
    UPathIOManager,
)
from pydantic import Field
from upath import UPath

from trading_runtime.backtest import RESULT_FILE, BacktestResult

_LOCAL_PROTOCOLS = ("", "file", "local")


def _is_local(path: UPath) -> bool:
    return path.protocol in _LOCAL_PROTOCOLS


def publish_directory(staging: Path, destination: UPath) -> None:
    """Move a finished result into place without ever exposing a half-written one.

    Locally: move (or, across filesystems, copy) to a hidden sibling, then swap by rename, so an
    earlier result stays intact until the new one is complete. Object stores have no rename: data
    files first, then ``result.json``, which readers take as the marker of a complete result.
    """
    if _is_local(destination):
        target = Path(destination.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".{target.name}.incoming-{uuid.uuid4().hex}")
        outgoing = target.with_name(f".{target.name}.outgoing-{uuid.uuid4().hex}")
        try:
            staging.rename(incoming)
        except OSError:  # scratch space on another filesystem
            shutil.copytree(staging, incoming)
        if target.exists():
            target.rename(outgoing)
        incoming.rename(target)
        shutil.rmtree(outgoing, ignore_errors=True)
        return
    destination.mkdir(parents=True, exist_ok=True)
    marker = destination / RESULT_FILE
    if marker.exists():
        marker.unlink()
    for file in sorted(p for p in staging.iterdir() if p.is_file()):
        if file.name != RESULT_FILE:
            (destination / file.name).write_bytes(file.read_bytes())
    marker.write_bytes((staging / RESULT_FILE).read_bytes())


class BacktestResultsIOManager(UPathIOManager):
    """Stores ``BacktestResult`` directories; loads them back as metrics + provenance (the curve
    stays on storage until ``read_curve()``).

    Supports single-run backfills: an output covering several partitions is a
    ``dict[partition_key, BacktestResult]``, stored partition by partition.
    """

    extension = None

    def dump_to_path(self, context: OutputContext, obj: BacktestResult, path: UPath) -> None:
        staging = obj.local_directory()
        publish_directory(staging, path)
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # the run's scratch directory, once it is empty
            staging.parent.rmdir()

    def load_from_path(self, context: InputContext, path: UPath) -> BacktestResult:
        if not (path / RESULT_FILE).exists():
            raise FileNotFoundError(f"no stored backtest result at {path}")
        return BacktestResult.load(path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if isinstance(obj, dict):
            paths = self._get_paths_for_partitions(context)
            missing = sorted(set(paths) - set(obj))
            if missing:
                raise ValueError(f"no result for partitions {missing}")
            for key in sorted(obj):
                self.make_directory(paths[key].parent)
                self.dump_to_path(context, obj[key], paths[key])
            return
        super().handle_output(context, obj)

    def get_metadata(self, context: OutputContext, obj: Any) -> dict[str, Any]:
        return {"storage": MetadataValue.text(str(self._base_path))}


class ArrowParquetIOManager(UPathIOManager):
    """``pyarrow.Table`` outputs as parquet files (temp + rename when local)."""

    extension = ".parquet"

    def dump_to_path(self, context: OutputContext, obj: pa.Table, path: UPath) -> None:
        if _is_local(path):
            target = Path(path.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            pq.write_table(obj, temp, compression="zstd")
            temp.rename(target)
            return
        with path.open("wb") as handle:
            pq.write_table(obj, handle, compression="zstd")

    def load_from_path(self, context: InputContext, path: UPath) -> pa.Table:
        with path.open("rb") as handle:
            return pq.read_table(handle)


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
