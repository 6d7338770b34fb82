"""The code location `dagster dev` loads (see pyproject's [tool.dagster])."""

from trading_runtime.defs import build_definitions

__all__ = ["defs"]

defs = build_definitions()
