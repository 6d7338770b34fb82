"""Resources, chosen from the settings' environment switch."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from upath import UPath

from trading_runtime.backtest import BacktestResult, BacktestTask, run_backtests
from trading_runtime.config import BacktestConfig, load_config
from trading_runtime.data.validate import PartInfo, PartValidationError, validate_part
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

    def validated_part(self, partition_key: str, scratch: Path) -> PartInfo:
        """Validate a part; errors name its location (the URL, not a downloaded copy)."""
        location = self.location(partition_key)
        try:
            local = self.local_part(partition_key, scratch)
        except FileNotFoundError:
            raise PartValidationError(f"part {location}: file does not exist") from None
        try:
            info = validate_part(local)
        except PartValidationError as exc:
            raise PartValidationError(str(exc).replace(str(local), str(location))) from None
        return dataclasses.replace(info, path=str(location))

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
