"""The engine port: what every adapter receives and returns.

An *engine* is what runs a backtest (hftbacktest, or trading-platform on top of it); an *adapter*
is the runtime's code that drives one engine behind this port.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trading_runtime.config.strategy_modules import (
    STRATEGY_MODULES_ENV,
    allowed_strategy_modules,
    is_allowed_module,
    strategy_refusal,
)

if TYPE_CHECKING:
    from trading_runtime.config import BacktestConfig
    from trading_runtime.data.part_info import PartInfo


__all__ = [
    "HFTBACKTEST_DISTRIBUTION",
    "EngineAdapter",
    "EngineError",
    "EngineNotInstalledError",
    "EngineOutput",
    "EngineStartupError",
    "EngineTimeoutError",
    "StrategyLoadError",
    "check_strategy_allowed",
    "import_class_path",
    "installed_version",
]

HFTBACKTEST_DISTRIBUTION = "hftbacktest"


class EngineError(RuntimeError):
    """A backtest that could not complete; the message says which part and why."""


class EngineTimeoutError(EngineError):
    """A backtest that ran past its wall-clock timeout and was killed."""


class EngineStartupError(EngineError):
    """Preparing a backtest (the part, the strategy's compilation) ran past its start-up limit."""


class EngineNotInstalledError(EngineError):
    """The adapter's framework is not importable in this environment."""


class StrategyLoadError(EngineError):
    """``strategy.class_path`` does not name a usable strategy."""


@dataclass(frozen=True)
class EngineOutput:
    """Files an engine wrote into its fresh output directory, and what produced them."""

    stats_path: Path
    event_log_path: Path | None
    engine: str
    engine_version: str
    framework_sha: str | None
    # What the adapter adds to the result's provenance (e.g. the latency file's sha256, the
    # trading-platform fixes applied).
    provenance: dict[str, Any] = field(default_factory=dict)


class EngineAdapter(Protocol):
    """One adapter per engine. ``backtest_in_process`` runs in a worker process the runtime can
    kill."""

    name: str

    def version(self) -> str: ...

    def framework_sha(self) -> str | None: ...

    def prepare(self, config: BacktestConfig, part: PartInfo) -> None:
        """Work done once per worker and config before the backtest's clock starts (hftbacktest:
        compile the strategy); an adapter with nothing to prepare does nothing. Runs under the
        start-up limit, so a strategy that cannot be loaded or compiled fails here, clearly."""
        ...

    def backtest_in_process(
        self,
        config: BacktestConfig,
        part: PartInfo,
        out_dir: Path,
        warmup: Sequence[PartInfo] = (),
    ) -> EngineOutput:
        """Backtest ``part``; ``warmup`` parts (in order) are fed to the engine before it."""
        ...


def check_strategy_allowed(class_path: str) -> None:
    """Refuse a ``class_path`` outside ``TRADING_RUNTIME_STRATEGY_MODULES`` before anything is
    imported (the config was checked where it was parsed; this worker checks again with its own
    environment, and a config built with ``model_copy`` skips validation)."""
    refusal = strategy_refusal(class_path)
    if refusal:
        raise StrategyLoadError(f"strategy.class_path {refusal}")


def _not_found_hint(exc: ImportError, module_name: str) -> str:
    """What to do when the strategy's module itself (or a package above it) is not found, as
    opposed to an import inside it failing."""
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if not missing or not (module_name == missing or module_name.startswith(missing + ".")):
        return ""
    return (
        f"; a strategy module must be importable from the engine worker (its package installed"
        f" in the worker's environment or its directory on PYTHONPATH) and under a prefix listed"
        f" in {STRATEGY_MODULES_ENV}"
    )


def installed_version(distribution: str) -> str:
    """An installed distribution's version, read from its metadata (never imported)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def import_class_path(class_path: str) -> Any:
    """Resolve ``"module:attr"`` from an allowed module, or raise StrategyLoadError naming what
    was missing or not allowed."""
    check_strategy_allowed(class_path)
    module_name, _, attr = class_path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StrategyLoadError(
            f"strategy.class_path {class_path!r}: cannot import module {module_name!r} ({exc})"
            + _not_found_hint(exc, module_name)
        ) from exc
    try:
        found = getattr(module, attr)
    except AttributeError:
        raise StrategyLoadError(
            f"strategy.class_path {class_path!r}: module {module_name!r} has no attribute {attr!r}"
        ) from None
    # An allowed module also holds what it imported (numba's njit, numpy...): only code defined
    # under an allowed prefix may be called as a strategy.
    defined_in = getattr(found, "__module__", None)
    prefixes = allowed_strategy_modules()
    if not isinstance(defined_in, str) or not is_allowed_module(defined_in, prefixes):
        raise StrategyLoadError(
            f"strategy.class_path {class_path!r} is not allowed: {attr!r} is defined in"
            f" {defined_in!r}, not under a prefix in {STRATEGY_MODULES_ENV}"
            f" ({','.join(prefixes)})"
        )
    return found
