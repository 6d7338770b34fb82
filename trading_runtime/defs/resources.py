"""Resources, chosen from the settings' environment switch."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from upath import UPath

from trading_runtime.backtest import BacktestResult, BacktestTask, run_backtests, shared_pool
from trading_runtime.config import BacktestConfig, load_config
from trading_runtime.data.validate import PartInfo, PartValidationError
from trading_runtime.defs.io_managers import BacktestResultsStore, ParquetTableStore
from trading_runtime.settings import RuntimeSettings
from trading_runtime.storage import list_part_keys, localize, part_location


class PartsDirectory(ConfigurableResource):
    """Where part files live (a directory or an object-store URL); the partition key is the
    file stem."""

    path: str

    def location(self, partition_key: str) -> UPath:
        return part_location(self.path, partition_key)

    def local_part(self, partition_key: str, scratch: Path) -> Path:
        """The part as a local file (downloaded into ``scratch`` when the parts are remote)."""
        return localize(self.location(partition_key), scratch)

    def name_by_location(
        self, partition_key: str, local: Path, outcome: PartInfo | PartValidationError
    ) -> PartInfo | PartValidationError:
        """A validation outcome that names the part's location (its URL), not a local copy."""
        location = str(self.location(partition_key))
        if isinstance(outcome, PartInfo):
            return dataclasses.replace(outcome, path=location)
        return PartValidationError(str(outcome).replace(str(local), location))

    def partition_keys(self) -> list[str]:
        return list_part_keys(self.path)


class BacktestEngine(ConfigurableResource):
    """The configured backtest and the warm engine pool that runs it."""

    config_path: str
    timeout_s: float
    workers: int
    staging_dir: str | None = None

    def load_config(self) -> BacktestConfig:
        return load_config(self.config_path)

    def new_staging_dir(self, run_id: str) -> Path:
        """A fresh local directory for engine output before it is published."""
        base = Path(self.staging_dir) if self.staging_dir else Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"run-{run_id[:8]}-", dir=base))

    def validate_parts(
        self, parts: Mapping[str, Path]
    ) -> dict[str, PartInfo | PartValidationError]:
        """Validate parts on the engine workers, in parallel (the pool the backtests use)."""
        keys = sorted(parts)
        pool = shared_pool(min(self.workers, max(1, len(keys))))
        outcomes = pool.validate([parts[key] for key in keys], timeout=self.timeout_s)
        return dict(zip(keys, outcomes, strict=True))

    def run_parts(
        self, config: BacktestConfig, parts: dict[str, Path], staging: Path
    ) -> dict[str, BacktestResult | Exception]:
        tasks = [BacktestTask(key, path, staging / key) for key, path in sorted(parts.items())]
        return run_backtests(config, tasks, timeout_s=self.timeout_s, workers=self.workers)


def build_resources(settings: RuntimeSettings) -> dict[str, Any]:
    # Local: results in a directory, engine scratch beside them. k8s: results in the object
    # store named by the settings, scratch in the pod's own temp directory.
    staging = str(Path(settings.results) / ".staging") if settings.is_local else None
    return {
        "parts_dir": PartsDirectory(path=settings.parts_dir),
        "engine": BacktestEngine(
            config_path=settings.config,
            timeout_s=settings.timeout_s,
            workers=settings.workers,
            staging_dir=staging,
        ),
        "results_io_manager": BacktestResultsStore(base_url=settings.results),
        "table_io_manager": ParquetTableStore(base_url=settings.results),
    }
