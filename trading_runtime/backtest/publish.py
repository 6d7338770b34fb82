"""Publishing: a staged result becomes the current version of its partition's directory
(``results.store``), and the one call the CLI and the Argo pods make to backtest and publish."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Mapping

from upath import UPath

from trading_runtime.backtest.fan_out import Outcome
from trading_runtime.backtest.inputs import PartLocation
from trading_runtime.backtest.staging import remove_if_empty, stage_backtests, staging_base_for
from trading_runtime.config import BacktestConfig
from trading_runtime.layout import (
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    STAGING_OWNER_FILE,
    VERSIONS_DIR,
)
from trading_runtime.results import BacktestResult
from trading_runtime.results.store import publish_result_files
from trading_runtime.storage import as_upath, storage_error

__all__ = ["backtest_and_publish", "publish_result"]


def publish_result(result: BacktestResult, destination: UPath) -> BacktestResult:
    """Store a staged result as the current version of ``destination`` (the partition's
    directory; see ``results.store.publish_result_files``); the stored result. The staging
    directory goes once its last result is published."""
    staging = result.local_directory()
    version = publish_result_files(staging, destination)
    batch = staging.parent  # the batch's staging directory goes with its last result
    with contextlib.suppress(OSError):
        if {p.name for p in batch.iterdir()} <= {STAGING_OWNER_FILE}:
            shutil.rmtree(batch)
            remove_if_empty(batch.parent)
    return dataclasses.replace(result, directory=destination / VERSIONS_DIR / version)


def backtest_and_publish(
    config: BacktestConfig,
    parts: Mapping[str, PartLocation],
    out: PartLocation,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    workers: int | None = None,
) -> dict[str, Outcome]:
    """Backtest parts (by key) and publish each result to ``<out>/<key>/``, failures aside.
    Output is staged where ``staging.staging_base_for`` says (beside ``out`` on a local disk, so
    publishing is a rename). A part that cannot be stored fails as a ``StorageError``; when
    nothing can be staged at all, that error is raised."""
    destination = as_upath(out)
    try:
        staged = stage_backtests(
            config,
            parts,
            staging_base=staging_base_for(destination),
            timeout_s=timeout_s,
            startup_timeout_s=startup_timeout_s,
            workers=workers,
        )
    except OSError as exc:  # e.g. --out on a read-only or full disk
        raise storage_error(exc) from exc
    outcomes: dict[str, Outcome] = {}
    with staged:
        for key, outcome in staged.outcomes.items():
            if isinstance(outcome, BacktestResult):
                try:
                    outcome = publish_result(outcome, destination / key)
                except OSError as exc:
                    outcome = storage_error(exc)
            outcomes[key] = outcome
    return outcomes
