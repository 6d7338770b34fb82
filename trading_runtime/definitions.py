"""The code location `dagster dev` and `dg dev` load (see pyproject's [tool.dagster] and
[tool.dg])."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from trading_runtime.backtest.service_start import start_engine_service
from trading_runtime.defs import build_definitions

__all__ = ["defs", "temporary_instance_warning"]


def temporary_instance_warning(environ: Mapping[str, str]) -> str | None:
    """What to tell a user whose `dagster dev` (or `dg dev`) runs without ``DAGSTER_HOME``:
    Dagster then uses a temporary instance, which shows every partition as missing although
    `make run` stored results. ``DAGSTER_IS_DEV_CLI`` is what both commands set for the
    processes they start; elsewhere (tests, the CLI, a cluster) nothing is said."""
    if environ.get("DAGSTER_IS_DEV_CLI") != "1" or environ.get("DAGSTER_HOME"):
        return None
    return (
        "DAGSTER_HOME is not set: this UI uses a temporary Dagster instance, deleted on exit, that"
        " knows nothing of the results `make run` recorded. Run `make dev`, or set"
        " DAGSTER_HOME=$PWD/.dagster (the instance `make run` uses)."
    )


_warning = temporary_instance_warning(os.environ)
if _warning:
    logging.getLogger("dagster").warning(_warning)


defs = build_definitions()
# Warm engine workers for the runs this code location launches (on under `dagster dev`).
start_engine_service()
