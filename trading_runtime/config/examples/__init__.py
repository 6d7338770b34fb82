"""The example configs shipped with the package, one per engine adapter (this directory's JSON
files; ``trading-runtime example-config`` prints the path of one)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["EXAMPLE_CONFIGS", "example_config_path"]

EXAMPLE_CONFIGS = {
    "hftbacktest": "hftbacktest_market_maker.json",
    "trading-platform": "trading_platform_market_maker.json",
}


def example_config_path(adapter: str = "hftbacktest") -> Path:
    """Path of the example config shipped with the package for an adapter."""
    resource = resources.files(__name__) / EXAMPLE_CONFIGS[adapter]
    return Path(str(resource))
