"""Resources, chosen from the settings' environment switch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, InitResourceContext
from upath import UPath

from trading_runtime.backtest.inputs import validate_parts
from trading_runtime.backtest.staging import StagedBacktests, stage_backtests, staging_base_for
from trading_runtime.config import BacktestConfig, EngineSection, load_config
from trading_runtime.data.ingest.window_text import parse_window
from trading_runtime.data.latency import per_part_latency_name
from trading_runtime.data.part_info import PartInfo, PartValidationError
from trading_runtime.data.parts_store import list_part_keys, part_location
from trading_runtime.data.raw_store import RawListing, scan_raw
from trading_runtime.defs.io_managers import BacktestResultsStore, ParquetTableStore
from trading_runtime.layout import DEFAULT_STARTUP_TIMEOUT_S, RESULTS_DIR
from trading_runtime.runs.run_writes import prepare_run_writes
from trading_runtime.settings import RuntimeSettings
from trading_runtime.storage import as_upath
from trading_runtime.sweeps.registry import CurrentVariants, current_variants, variant_config
from trading_runtime.sweeps.variants import BASE_VARIANT_KEY

if TYPE_CHECKING:
    from trading_runtime.data.ingest.run import IngestSpec

__all__ = ["BacktestRunner", "PartsDirectory", "RawDirectory", "build_resources"]


class PartsDirectory(ConfigurableResource):
    """Where part files live (a directory or an object-store URL); the partition key is the
    file's name without ``.npz``."""

    path: str

    def location(self, partition_key: str) -> UPath:
        return part_location(self.path, partition_key)

    def locations(self, partition_keys: Sequence[str]) -> dict[str, UPath]:
        return {key: self.location(key) for key in partition_keys}

    def partition_keys(self) -> list[str]:
        return list_part_keys(self.path)


class RawDirectory(ConfigurableResource):
    """Where raw exchange files live (``<path>/<format>/``) and how they become parts: the window
    (``1h``, ``none``...), whether a part starts from the previous one's book and whether each
    part's order latency from its feed is written too."""

    path: str
    window: str = "1h"
    snapshots: bool = True
    latency: bool = False

    def listing(self) -> RawListing:
        return scan_raw(self.path)

    def spec(self, raw_format: str, engine: EngineSection) -> IngestSpec:
        """How a group converts under the config's engine: its tick and lot size for the
        snapshots, its latency file's name for the order-latency files."""
        # Imported when a conversion runs: the converters load hftbacktest and numba, which the
        # code location and the backtest runs never need.
        from trading_runtime.data.ingest.run import IngestSpec

        return IngestSpec(
            raw_format,
            parse_window(self.window),
            self.snapshots,
            engine.tick_size if self.snapshots else None,
            engine.lot_size if self.snapshots else None,
            per_part_latency_name(engine) if self.latency else None,
        )


class BacktestRunner(ConfigurableResource):
    """The configured backtest and how it runs: per-part timeout, worker processes, and where
    output is staged before the IO manager publishes it (None: the system temp directory)."""

    config_path: str
    timeout_s: float
    workers: int
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    staging_dir: str | None = None
    sweeps_dir: str | None = None  # None: no sweep files, the base variant only

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # The run's process writes its events: with PostgreSQL, over kept connections.
        if context.instance is not None:
            prepare_run_writes(context.instance)

    def load_config(self) -> BacktestConfig:
        return load_config(self.config_path)

    def current_variants(self, config: BacktestConfig) -> CurrentVariants:
        """The sweep files' variants over ``config`` (``sweeps.registry``)."""
        if self.sweeps_dir is None:
            return CurrentVariants()
        return current_variants(config, self.config_path, self.sweeps_dir)

    def variant_configs(
        self, config: BacktestConfig, variant_keys: Sequence[str]
    ) -> dict[str, BacktestConfig | str]:
        """Each variant's effective config, or why it has none (no sweep file holds it now)."""
        known = self.current_variants(config) if set(variant_keys) - {BASE_VARIANT_KEY} else None
        found: dict[str, BacktestConfig | str] = {}
        for key in variant_keys:
            if key == BASE_VARIANT_KEY:
                found[key] = config
            elif known is not None and key in known.variants:
                found[key] = variant_config(config, self.config_path, known.variants[key])
            else:
                found[key] = (
                    f"variant {key}: no sweep file in {self.sweeps_dir} gives it over config"
                    f" {self.config_path} as it is now (a sweep file or the config changed)"
                )
        return found

    def validate_parts(
        self, parts: Mapping[str, UPath]
    ) -> dict[str, PartInfo | PartValidationError]:
        return validate_parts(parts, timeout_s=self.timeout_s, workers=self.workers)

    def stage(
        self, config: BacktestConfig, parts: Mapping[str, UPath], run_id: str
    ) -> StagedBacktests:
        return stage_backtests(
            config,
            parts,
            staging_base=Path(self.staging_dir) if self.staging_dir else None,
            staging_prefix=f"run-{run_id[:8]}-",
            timeout_s=self.timeout_s,
            startup_timeout_s=self.startup_timeout_s,
            workers=self.workers,
        )


def build_resources(settings: RuntimeSettings) -> dict[str, Any]:
    # Staged where the CLI stages too: beside the partitions' directories on a disk (publishing
    # is a rename); for an object store in one local place (a pod's own temp directory on k8s),
    # where the next run finds and removes a killed run's leftovers.
    staging = staging_base_for(as_upath(settings.results) / RESULTS_DIR)
    return {
        "parts_dir": PartsDirectory(path=settings.parts_dir),
        "raw_dir": RawDirectory(
            path=settings.raw_dir,
            window=settings.raw_window,
            snapshots=settings.raw_snapshots == "on",
            latency=settings.raw_latency == "on",
        ),
        "backtest_runner": BacktestRunner(
            config_path=settings.config,
            timeout_s=settings.timeout_s,
            startup_timeout_s=settings.startup_timeout_s,
            workers=settings.workers,
            staging_dir=str(staging),
            sweeps_dir=settings.sweeps,
        ),
        "results_io_manager": BacktestResultsStore(base_url=settings.results),
        "table_io_manager": ParquetTableStore(base_url=settings.results),
    }
