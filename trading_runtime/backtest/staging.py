"""Run and publish: the one path a backtest takes, whoever asks for it.

    part file or URL -> local copy -> validated in a worker -> engine in that worker
    -> result files in local staging -> published to <destination>/<part>/

The Dagster asset stages (``stage_backtests``) and lets its IO manager publish each result
(``publish_result``); the CLI and the Argo pods stage and publish in one call
(``backtest_and_publish``). The ``parts`` asset validates through the same local copies and
workers (``validate_parts``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from upath import UPath

from trading_runtime.backtest.fan_out import (
    BacktestTask,
    Outcome,
    refuse_duplicate_keys,
    run_backtests,
)
from trading_runtime.backtest.pool import WorkerPool, pool_for
from trading_runtime.backtest.processes import read_owner, write_owner
from trading_runtime.config import LATENCY_DIR, BacktestConfig
from trading_runtime.data.order import WarmupError, resolve_warmup
from trading_runtime.data.parts_store import localize
from trading_runtime.data.validate import PartInfo, PartValidationError
from trading_runtime.layout import (
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    DOWNLOADS_DIR,
    STAGING_OWNER_FILE,
    STAGING_PREFIX,
    VERSIONS_DIR,
    part_key,
)
from trading_runtime.results import BacktestResult
from trading_runtime.results.store import publish_result_files
from trading_runtime.storage import as_upath, is_local, storage_error

__all__ = [
    "REMOTE_STAGING_BASE",
    "PartLocation",
    "StagedBacktests",
    "backtest_and_publish",
    "keyed_locations",
    "publish_result",
    "remove_abandoned_staging",
    "stage_backtests",
    "validate_parts",
]

PartLocation = str | Path | UPath
# Where runs that publish to an object store stage their output.
REMOTE_STAGING_BASE = Path(tempfile.gettempdir()) / "trading-runtime-staging"


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

    def __enter__(self) -> StagedBacktests:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()


def keyed_locations(locations: Sequence[PartLocation]) -> dict[str, UPath]:
    """Part files or URLs by partition key (``layout.part_key``), refusing two with one name."""
    keys = [part_key(str(location)) for location in locations]
    refuse_duplicate_keys(keys)
    return {key: as_upath(location) for key, location in zip(keys, locations, strict=True)}


def _local_copies(
    parts: Mapping[str, PartLocation], scratch: Path
) -> tuple[dict[str, Path], dict[str, PartValidationError]]:
    """Local paths of the parts (remote ones downloaded into ``scratch``); missing ones fail."""
    local: dict[str, Path] = {}
    missing: dict[str, PartValidationError] = {}
    for key, location in sorted(parts.items()):
        try:
            local[key] = localize(location, scratch)
        except FileNotFoundError as exc:
            missing[key] = PartValidationError(str(exc))
    return local, missing


def _local_warmups(
    config: BacktestConfig,
    parts: Mapping[str, PartLocation],
    local: Mapping[str, Path],
    scratch: Path,
) -> tuple[
    dict[str, tuple[Path, ...]], dict[str, tuple[UPath, ...]], dict[str, PartValidationError]
]:
    """Local copies of each scored part's warm-up parts (``warmup.resolve_warmup``), in feeding
    order, each downloaded once per batch; where they came from; and the parts whose warm-up
    cannot be given."""
    assert config.warmup is not None
    resolved = resolve_warmup(config.warmup, {key: parts[key] for key in local})
    # A part that is scored here and a warm-up for another is not downloaded twice.
    copies = {str(as_upath(parts[key])): path for key, path in local.items()}
    warmups: dict[str, tuple[Path, ...]] = {}
    locations: dict[str, tuple[UPath, ...]] = {}
    failed: dict[str, PartValidationError] = {}
    for key, outcome in resolved.items():
        if isinstance(outcome, PartValidationError):
            failed[key] = outcome
            continue
        try:
            for location in outcome:
                if str(location) not in copies:
                    copies[str(location)] = localize(location, scratch)
        except FileNotFoundError as exc:
            failed[key] = WarmupError(f"part {key}: warm-up part missing: {exc}")
            continue
        warmups[key] = tuple(copies[str(location)] for location in outcome)
        locations[key] = tuple(as_upath(location) for location in outcome)
    return warmups, locations, failed


def _local_latency_files(
    config: BacktestConfig,
    parts: Mapping[str, PartLocation],
    local: Mapping[str, Path],
    warmup_locations: Mapping[str, Sequence[UPath]],
    scratch: Path,
) -> dict[str, PartValidationError]:
    """Download the interpolated-latency files of remote parts (the scored part's and its
    warm-up parts') into ``scratch/latency/``, beside the downloaded parts, where the adapter
    looks for them; the parts whose file is missing."""
    failed: dict[str, PartValidationError] = {}
    for key in local:
        inputs = [*warmup_locations.get(key, ()), as_upath(parts[key])]
        for location in inputs:
            name = config.engine.latency_file(part_key(str(location)))
            if name is None or is_local(location):
                continue
            try:
                localize(location.parent / LATENCY_DIR / name, scratch / LATENCY_DIR)
            except FileNotFoundError:
                failed[key] = PartValidationError(
                    f"part {key}: engine.latency file {LATENCY_DIR}/{name} does not exist beside"
                    f" {location}"
                )
                break
    return failed


def remove_abandoned_staging(staging_base: Path) -> list[Path]:
    """Remove staging directories under ``staging_base`` whose owning process is gone (a run
    killed before it could clean up); the removed paths."""
    removed = []
    for owner_file in sorted(staging_base.glob(f"*/{STAGING_OWNER_FILE}")):
        owner = read_owner(owner_file)
        if owner is not None and not owner.is_alive():
            shutil.rmtree(owner_file.parent, ignore_errors=True)
            removed.append(owner_file.parent)
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
    pool: WorkerPool | None = None,
) -> StagedBacktests:
    """Backtest parts (files or URLs, by partition key) into a fresh local staging directory
    under ``staging_base`` (the system temp directory when None). One outcome per key."""
    if staging_base is not None:
        staging_base.mkdir(parents=True, exist_ok=True)
        remove_abandoned_staging(staging_base)
    staged = StagedBacktests(Path(tempfile.mkdtemp(prefix=staging_prefix, dir=staging_base)), {})
    write_owner(staged.staging / STAGING_OWNER_FILE)
    downloads = staged.staging / DOWNLOADS_DIR
    try:
        local, missing = _local_copies(parts, downloads)
        warmups: dict[str, tuple[Path, ...]] = {}
        warmup_locations: dict[str, tuple[UPath, ...]] = {}
        if config.warmup is not None:
            warmups, warmup_locations, failed = _local_warmups(config, parts, local, downloads)
            missing.update(failed)
            local = {key: path for key, path in local.items() if key not in failed}
        if config.engine.latency_file("part") is not None:
            failed = _local_latency_files(config, parts, local, warmup_locations, downloads)
            missing.update(failed)
            local = {key: path for key, path in local.items() if key not in failed}
        tasks = [
            BacktestTask(key, path, staged.staging / key, warmups.get(key, ()))
            for key, path in local.items()
        ]
        outcomes = {
            **missing,
            **run_backtests(config, tasks, timeout_s, pool, workers, startup_timeout_s),
        }
    except BaseException:
        staged.discard()
        raise
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
    staged.outcomes = dict(sorted(outcomes.items()))
    return staged


def publish_result(result: BacktestResult, destination: UPath) -> BacktestResult:
    """Store a staged result as the current version of ``destination`` (the partition's
    directory; see ``storage.publish_result_files``); the stored result. The staging directory
    goes once its last result is published."""
    staging = result.local_directory()
    version = publish_result_files(staging, destination)
    batch = staging.parent  # the batch's staging directory goes with its last result
    with contextlib.suppress(OSError):
        if {p.name for p in batch.iterdir()} <= {STAGING_OWNER_FILE}:
            shutil.rmtree(batch)
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
    Output is built beside ``out`` when it is a directory (publishing is a rename), else in the
    system temp directory. A part that cannot be stored fails as a ``StorageError``; when
    nothing can be staged at all, that error is raised."""
    destination = as_upath(out)
    # Beside the results locally (publishing is a rename); for an object store in one known
    # local place, so a killed run's staging is found and removed there too.
    staging_base = Path(destination.path) if is_local(destination) else REMOTE_STAGING_BASE
    try:
        staged = stage_backtests(
            config,
            parts,
            staging_base=staging_base,
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


def validate_parts(
    parts: Mapping[str, PartLocation],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    workers: int | None = None,
) -> dict[str, PartInfo | PartValidationError]:
    """Validate parts (files or URLs, by key) on the backtest workers, in parallel; each
    outcome names the part's location, not a local copy."""
    with tempfile.TemporaryDirectory(prefix="parts-") as scratch:
        local, missing = _local_copies(parts, Path(scratch))
        checked = (
            pool_for(len(local), workers).validate(list(local.values()), timeout=timeout_s)
            if local
            else []
        )
    outcomes: dict[str, PartInfo | PartValidationError] = dict(missing)
    for (key, path), outcome in zip(local.items(), checked, strict=True):
        location = str(as_upath(parts[key]))
        if isinstance(outcome, PartInfo):
            outcomes[key] = dataclasses.replace(outcome, path=location)
        else:
            outcomes[key] = PartValidationError(str(outcome).replace(str(path), location))
    return dict(sorted(outcomes.items()))
