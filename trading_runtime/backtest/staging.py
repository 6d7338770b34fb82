"""Staging: where a batch of backtests writes its results before they are published.

One place on both paths (the Dagster asset and ``backtest_and_publish``): beside the partitions'
directories when they are on a local disk (``<partitions>/.staging/``, so publishing is a
rename), else one known local directory (``REMOTE_STAGING_BASE``). A staging directory records
its owning process; a later batch removes the directories whose owner is gone.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from upath import UPath

from trading_runtime.backtest.fan_out import BacktestTask, Outcome, backtest_tasks
from trading_runtime.backtest.inputs import PartLocation, localize_inputs
from trading_runtime.backtest.pool import EnginePool
from trading_runtime.backtest.processes import (
    ProcessIdentity,
    current_process,
    read_owner,
    write_owner,
)
from trading_runtime.config import BacktestConfig
from trading_runtime.layout import (
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    DOWNLOADS_DIR,
    STAGING_DIR,
    STAGING_OWNER_FILE,
    STAGING_PREFIX,
)
from trading_runtime.results import BacktestResult
from trading_runtime.storage import as_upath, is_local

__all__ = [
    "REMOTE_STAGING_BASE",
    "StagedBacktests",
    "remove_abandoned_staging",
    "remove_if_empty",
    "remove_own_staging",
    "remove_staging",
    "stage_backtests",
    "staging_base_for",
]

# Where runs that publish to an object store stage their output.
REMOTE_STAGING_BASE = Path(tempfile.gettempdir()) / "trading-runtime-staging"


def staging_base_for(partitions: str | Path | UPath) -> Path:
    """Where results bound for ``partitions`` (the directory that holds ``<part>/``) are staged:
    ``<partitions>/.staging`` on a local disk, ``REMOTE_STAGING_BASE`` for an object store."""
    destination = as_upath(partitions)
    return Path(destination.path) / STAGING_DIR if is_local(destination) else REMOTE_STAGING_BASE


@dataclass
class StagedBacktests:
    """Outcomes of one batch, each result still in the local ``staging`` directory. Leaving the
    ``with`` block removes whatever was not published."""

    staging: Path
    outcomes: dict[str, Outcome]

    @property
    def results(self) -> dict[str, BacktestResult]:
        return {k: v for k, v in self.outcomes.items() if isinstance(v, BacktestResult)}

    @property
    def failures(self) -> dict[str, Exception]:
        return {k: v for k, v in self.outcomes.items() if isinstance(v, Exception)}

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        remove_if_empty(self.staging.parent)

    def __enter__(self) -> StagedBacktests:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def remove_if_empty(base: Path) -> None:
    """Remove the staging base once no batch uses it, so only results are left beside them."""
    with contextlib.suppress(OSError):
        if base.name == STAGING_DIR:
            base.rmdir()  # fails (harmlessly) while another batch's directory is in it


def _new_staging_directory(base: Path | None, prefix: str) -> Path:
    if base is None:
        return Path(tempfile.mkdtemp(prefix=prefix))
    for _ in range(3):  # another batch may remove an empty base between the two calls
        base.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def remove_staging(base: Path, owned_by: Callable[[ProcessIdentity], bool]) -> list[Path]:
    """Remove the staging directories under ``base`` whose recorded owner ``owned_by`` accepts
    (an unreadable owner file: never); the removed paths."""
    removed = []
    for owner_file in sorted(base.glob(f"*/{STAGING_OWNER_FILE}")):
        owner = read_owner(owner_file)
        if owner is not None and owned_by(owner):
            shutil.rmtree(owner_file.parent, ignore_errors=True)
            removed.append(owner_file.parent)
    return removed


def remove_abandoned_staging(base: Path) -> list[Path]:
    """Remove staging directories under ``base`` whose owning process is gone (a run killed
    before it could clean up); the removed paths."""
    return remove_staging(base, lambda owner: not owner.is_alive())


def remove_own_staging(base: Path) -> list[Path]:
    """Remove the staging directories under ``base`` that this process owns (it is stopping),
    then the base once it is empty."""
    me = current_process()
    removed = remove_staging(base, lambda owner: owner == me)
    remove_if_empty(base)
    return removed


def stage_backtests(
    config: BacktestConfig,
    parts: Mapping[str, PartLocation],
    *,
    staging_base: Path | None = None,
    staging_prefix: str = STAGING_PREFIX,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    workers: int | None = None,
    pool: EnginePool | None = None,
) -> StagedBacktests:
    """Backtest parts (files or URLs, by partition key) into a fresh local staging directory
    under ``staging_base`` (``staging_base_for`` a destination; the system temp directory when
    None). One outcome per key."""
    if staging_base is not None and staging_base.is_dir():
        remove_abandoned_staging(staging_base)
    staged = StagedBacktests(_new_staging_directory(staging_base, staging_prefix), {})
    write_owner(staged.staging / STAGING_OWNER_FILE)
    downloads = staged.staging / DOWNLOADS_DIR
    try:
        inputs = localize_inputs(config, parts, downloads)
        tasks = [
            BacktestTask(key, path, staged.staging / key, inputs.warmups.get(key, ()))
            for key, path in inputs.parts.items()
        ]
        outcomes = {
            **inputs.failed,
            **backtest_tasks(
                config,
                tasks,
                timeout_s=timeout_s,
                startup_timeout_s=startup_timeout_s,
                pool=pool,
                workers=workers,
            ),
        }
    except BaseException:
        staged.discard()
        raise
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    staged.outcomes = dict(sorted(outcomes.items()))
    return staged
