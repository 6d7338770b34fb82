"""Engine adapters behind one port (``base.EngineAdapter``), chosen by ``config.adapter``.

An adapter's module is imported when it is first asked for: the code location, the run process
and the CLI name engines (their versions go into code versions) but never run one, and the
embedded engine's module loads hftbacktest and numba (about half a second).
"""

from __future__ import annotations

import importlib

from trading_runtime.adapters.base import (
    HFTBACKTEST_DISTRIBUTION,
    EngineAdapter,
    EngineError,
    EngineNotInstalledError,
    EngineOutput,
    EngineStartupError,
    EngineTimeoutError,
    StrategyLoadError,
    installed_version,
)

# name -> (module, class) of each adapter.
_ADAPTERS: dict[str, tuple[str, str]] = {
    "hftbacktest": ("trading_runtime.adapters.hftbacktest.adapter", "HftbacktestAdapter"),
    "trading-platform": ("trading_runtime.adapters.trading_platform", "TradingPlatformAdapter"),
}
ADAPTER_NAMES = tuple(sorted(_ADAPTERS))


def get_adapter(name: str) -> EngineAdapter:
    try:
        module, cls = _ADAPTERS[name]
    except KeyError:
        raise EngineError(
            f"unknown engine adapter {name!r}; expected one of {', '.join(ADAPTER_NAMES)}"
        ) from None
    adapter: EngineAdapter = getattr(importlib.import_module(module), cls)()
    return adapter


def engine_identity(name: str) -> tuple[str, str | None]:
    """An engine's version and framework SHA, as its adapter records them with a result, for
    the code location's code versions. The embedded engine's are read without importing it;
    the framework's adapter module is light (it imports the framework only to run)."""
    if name == "hftbacktest":
        return installed_version(HFTBACKTEST_DISTRIBUTION), None
    adapter = get_adapter(name)
    return adapter.version(), adapter.framework_sha()


__all__ = [
    "ADAPTER_NAMES",
    "HFTBACKTEST_DISTRIBUTION",
    "EngineAdapter",
    "EngineError",
    "EngineNotInstalledError",
    "EngineOutput",
    "EngineStartupError",
    "EngineTimeoutError",
    "StrategyLoadError",
    "engine_identity",
    "get_adapter",
    "installed_version",
]
