"""Resources, chosen from the settings' environment switch."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

from trading_runtime.backtest import BacktestResult, BacktestTask, run_backtests
from trading_runtime.config import BacktestConfig, load_config
from trading_runtime.data.validate import list_parts, part_key
from trading_runtime.defs.io_managers import BacktestResultsStore, ParquetTableStore
from trading_runtime.settings import RuntimeSettings


class PartsDirectory(ConfigurableResource):
    """Where part files live; the partition key is the file stem."""

    path: str

    def part_path(self, partition_key: str) -> Path:
        return Path(self.path) / f"{partition_key}.npz"

    def partition_keys(self) -> list[str]:
        return [part_key(p) for p in list_parts(Path(self.path))]


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
