"""The pinned framework: trading-platform's HftBacktestEngine, imported only when chosen."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from trading_runtime.adapters.base import (
    EngineError,
    EngineNotInstalledError,
    EngineOutput,
    check_strategy_allowed,
    installed_version,
)
from trading_runtime.adapters.framework_fixes import applied_framework_fixes
from trading_runtime.config import (
    BacktestConfig,
    ConstantLatency,
    RoiVectorDepth,
    framework_engine_problems,
)
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.part_info import PartInfo
from trading_runtime.layout import EVENT_LOG_FILE, STATS_FILE
from trading_runtime.pins import framework_pin

__all__ = [
    "DISTRIBUTION",
    "TradingPlatformAdapter",
    "build_framework_config",
    "deterministic_order_snapshots",
    "framework_engine_fields",
    "import_framework",
    "install_hint",
    "installed_framework_sha",
]

DISTRIBUTION = "trading-platform"
_RAW_STATS_FILE = "stats.framework.npz"


def install_hint() -> str:
    pin = framework_pin()
    return (
        "the trading-platform engine needs the framework at the pinned commit; install it with\n"
        f"  pip install 'trading-platform @ git+{pin.repository}@{pin.commit}'\n"
        "or `make install-framework` (never `pip install trading-platform`: that PyPI name is an"
        " unrelated project)"
    )


def import_framework() -> ModuleType:
    try:
        return importlib.import_module("trading_platform")
    except ImportError as exc:
        raise EngineNotInstalledError(f"{exc}; {install_hint()}") from exc


def installed_framework_sha() -> str | None:
    """The commit pip recorded when it installed the framework from git; None when unknown
    (installed from a directory or an archive): never assumed from the pin."""
    try:
        direct_url = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct_url = None
    if direct_url:
        commit = json.loads(direct_url).get("vcs_info", {}).get("commit_id")
        if commit:
            return str(commit)
    return None


# The pinned framework reads hftbacktest's open orders in hash-map order, which differs from
# process to process, so its event log came out in a different order on each run. The runtime hands
# it the same snapshot sorted by order id: same inputs, same bytes. Only the order changes.
_ORDER_FIELDS = (
    "order_id", "order_type", "side", "time_in_force", "req", "status", "price", "exec_price",
    "qty", "exec_qty", "leaves_qty", "exch_timestamp", "local_timestamp",
)  # fmt: skip


class _SortedOrders(list[SimpleNamespace]):
    def values(self) -> list[SimpleNamespace]:
        return list(self)


def _sorted_orders_snapshot(venue: Any) -> tuple[Any, _SortedOrders]:
    orders = _SortedOrders()
    values = venue.hbt.orders(venue.asset_no).values()
    while values.has_next():
        order = values.get()
        orders.append(SimpleNamespace(**{name: getattr(order, name) for name in _ORDER_FIELDS}))
    orders.sort(key=lambda order: int(order.order_id))
    return venue.hbt.state_values(venue.asset_no), orders


@contextmanager
def deterministic_order_snapshots() -> Iterator[None]:
    try:
        from trading_platform.backtest.adapters.venue import HftBacktestVenueAdapter as Venue
    except ImportError:  # another layout (a test stand-in, a later pin): run it as it is
        yield
        return
    original = Venue.read_orders_snapshot
    Venue.read_orders_snapshot = _sorted_orders_snapshot
    try:
        yield
    finally:
        Venue.read_orders_snapshot = original


def framework_engine_fields(config: BacktestConfig) -> dict[str, Any]:
    """The pinned framework's ``HftEngineConfig`` fields (paths aside) from the engine section.

    Field by field, never a dump of the section: runtime-only fields stay out, and what the
    framework cannot express was refused when the config was loaded
    (``config.framework_engine_problems``)."""
    problems = framework_engine_problems(config.engine)
    if problems:
        raise ValueError("engine: " + "; ".join(problems))
    engine = config.engine
    depth, latency, fees = engine.depth, engine.latency, engine.fee_model
    assert isinstance(depth, RoiVectorDepth) and isinstance(latency, ConstantLatency)
    return {
        "instrument": engine.instrument,
        "tick_size": engine.tick_size,
        "lot_size": engine.lot_size,
        "contract_size": engine.contract_size,
        "maker_fee_rate": fees.maker,
        "taker_fee_rate": fees.taker,
        "entry_latency_ns": latency.entry_ns,
        "response_latency_ns": latency.response_ns,
        # False: the framework leaves hftbacktest's default queue model, log_prob2.
        "use_risk_adverse_queue_model": engine.queue_model.type == "risk_adverse",
        "partial_fill_venue": engine.exchange == "partial_fill",
        "max_steps": engine.max_steps,
        "last_trades_capacity": engine.last_trades_capacity,
        "max_price_tick_levels": engine.max_price_tick_levels,
        "roi_lb": depth.roi_lb,
        "roi_ub": depth.roi_ub,
        "initial_snapshot": engine.initial_snapshot,
    }


def build_framework_config(
    framework: ModuleType, config: BacktestConfig, data_paths: Sequence[str], out_dir: Path
) -> Any:
    """Map our config to ``trading_platform.HftBacktestConfig`` with runtime-supplied paths
    (``data_paths``: warm-up parts, then the scored part)."""
    engine_cfg = framework.HftEngineConfig(
        **framework_engine_fields(config),
        data_files=list(data_paths),
        stats_npz_path=str(out_dir / _RAW_STATS_FILE),
        event_bus_path=str(out_dir / EVENT_LOG_FILE),
    )
    strategy_cfg = framework.StrategyConfig(
        class_path=config.strategy.class_path, **config.strategy.params
    )
    assert config.risk is not None  # required for this adapter (BacktestConfig's validator)
    risk_cfg = framework.RiskConfig(**config.risk.model_dump(mode="json", exclude_none=True))
    return framework.HftBacktestConfig(
        id=config.id,
        description=config.description,
        engine_cfg=engine_cfg,
        strategy_cfg=strategy_cfg,
        risk_cfg=risk_cfg,
    )


class TradingPlatformAdapter:
    name = "trading-platform"

    def version(self) -> str:
        return installed_version(DISTRIBUTION)

    def framework_sha(self) -> str | None:
        return installed_framework_sha()

    def prepare(self, config: BacktestConfig, part: PartInfo) -> None:
        """Nothing to prepare: the framework loads the strategy itself (``backtest_in_process``)."""

    def backtest_in_process(
        self,
        config: BacktestConfig,
        part: PartInfo,
        out_dir: Path,
        warmup: Sequence[PartInfo] = (),
    ) -> EngineOutput:
        # The framework imports class_path itself: refuse a module that is not allowed first.
        check_strategy_allowed(config.strategy.class_path)
        framework = import_framework()
        try:
            data_paths = [*(p.path for p in warmup), part.path]
            framework_config = build_framework_config(framework, config, data_paths, out_dir)
        except (TypeError, ValueError) as exc:
            raise EngineError(
                f"config {config.id!r} does not map onto trading-platform's config: {exc}"
            ) from exc
        # Fixes inside: clear_inactive_orders wraps the sorted (copied) orders snapshot.
        with (
            deterministic_order_snapshots(),
            applied_framework_fixes(config.engine.framework_fixes) as fixes,
        ):
            result = framework.HftBacktestEngine(framework_config).run()
        raw_stats = Path(result.stats_file or out_dir / _RAW_STATS_FILE)
        if not raw_stats.is_file():
            raise EngineError(f"part {part.name}: trading-platform wrote no stats file")
        # The framework saves with numpy's savez (wall-clock time in the zip): rewrite stably.
        with np.load(raw_stats) as archive:
            arrays = {name: archive[name] for name in archive.files}
        stats_path = out_dir / STATS_FILE
        write_npz_deterministic(stats_path, arrays)
        raw_stats.unlink()
        event_log = out_dir / EVENT_LOG_FILE
        return EngineOutput(
            stats_path=stats_path,
            event_log_path=event_log if event_log.is_file() else None,
            engine=self.name,
            engine_version=self.version(),
            framework_sha=self.framework_sha(),
            provenance={"framework_fixes": list(fixes)},
        )
