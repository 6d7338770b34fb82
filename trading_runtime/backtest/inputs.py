"""A backtest's inputs made local: hftbacktest reads local files only, so every input of a part
(the part, its warm-up parts, their interpolated-latency files) is downloaded into scratch space
when it lives in an object store, in one loop per part; local files are used where they are.
Parts are validated on the same workers and local copies (``validate_parts``)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from trading_runtime.backtest.engine_pools import pool_for
from trading_runtime.backtest.fan_out import refuse_duplicate_keys
from trading_runtime.config import LATENCY_DIR, BacktestConfig
from trading_runtime.data.order import WarmupError, resolve_warmup
from trading_runtime.data.part_info import PartInfo, PartValidationError
from trading_runtime.data.parts_store import localize
from trading_runtime.layout import DEFAULT_TIMEOUT_S, part_key
from trading_runtime.storage import as_upath, is_local

__all__ = ["LocalInputs", "PartLocation", "keyed_locations", "localize_inputs", "validate_parts"]

PartLocation = str | Path | UPath


def keyed_locations(locations: Sequence[PartLocation]) -> dict[str, UPath]:
    """Part files or URLs by partition key (``layout.part_key``), refusing two with one name."""
    keys = [part_key(str(location)) for location in locations]
    refuse_duplicate_keys(keys)
    return {key: as_upath(location) for key, location in zip(keys, locations, strict=True)}


@dataclass
class LocalInputs:
    """Local copies by partition key: each part, and its warm-up parts in feeding order (their
    latency files sit in ``latency/`` beside them); the parts whose inputs cannot be had."""

    parts: dict[str, Path] = field(default_factory=dict)
    warmups: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    failed: dict[str, PartValidationError] = field(default_factory=dict)


def _localize_latency_file(
    config: BacktestConfig, key: str, location: UPath, scratch: Path
) -> None:
    """Download a remote input's interpolated-latency file into ``scratch/latency/``, beside
    the downloaded parts, where the adapter looks for it; a missing one fails part ``key``."""
    name = config.engine.latency_file(part_key(str(location)))
    if name is None or is_local(location):
        return
    try:
        localize(location.parent / LATENCY_DIR / name, scratch / LATENCY_DIR)
    except FileNotFoundError:
        raise PartValidationError(
            f"part {key}: engine.latency file {LATENCY_DIR}/{name} does not exist beside {location}"
        ) from None


def localize_inputs(
    config: BacktestConfig, parts: Mapping[str, PartLocation], scratch: Path
) -> LocalInputs:
    """Every part's inputs as local files (remote ones downloaded into ``scratch``, each once):
    the part, its warm-up parts (``order.resolve_warmup``) and their latency files. A part
    whose input is missing fails alone, named."""
    inputs = LocalInputs()
    warmups = resolve_warmup(config.warmup, parts) if config.warmup is not None else {}
    copies: dict[str, Path] = {}  # one download per location, also across parts

    def local_copy(location: UPath) -> Path:
        if str(location) not in copies:
            copies[str(location)] = localize(location, scratch)
        return copies[str(location)]

    for key, location in sorted(parts.items()):
        try:
            path = local_copy(as_upath(location))
        except FileNotFoundError as exc:
            inputs.failed[key] = PartValidationError(str(exc))
            continue
        chosen = warmups.get(key, [])
        if isinstance(chosen, PartValidationError):
            inputs.failed[key] = chosen
            continue
        try:
            warmup_paths = tuple(local_copy(as_upath(w)) for w in chosen)
        except FileNotFoundError as exc:
            inputs.failed[key] = WarmupError(f"part {key}: warm-up part missing: {exc}")
            continue
        try:
            for each in (*chosen, location):
                _localize_latency_file(config, key, as_upath(each), scratch)
        except PartValidationError as exc:
            inputs.failed[key] = exc
            continue
        inputs.parts[key] = path
        if chosen:
            inputs.warmups[key] = warmup_paths
    return inputs


def validate_parts(
    parts: Mapping[str, PartLocation],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    workers: int | None = None,
) -> dict[str, PartInfo | PartValidationError]:
    """Validate parts (files or URLs, by key) on the backtest workers, in parallel; each
    outcome names the part's location, not a local copy."""
    with tempfile.TemporaryDirectory(prefix="parts-") as scratch:
        local: dict[str, Path] = {}
        outcomes: dict[str, PartInfo | PartValidationError] = {}
        for key, location in sorted(parts.items()):
            try:
                local[key] = localize(location, Path(scratch))
            except FileNotFoundError as exc:
                outcomes[key] = PartValidationError(str(exc))
        checked = (
            pool_for(len(local), workers).validate(list(local.values()), timeout_s=timeout_s)
            if local
            else []
        )
    for (key, path), outcome in zip(local.items(), checked, strict=True):
        location = str(as_upath(parts[key]))
        if isinstance(outcome, PartInfo):
            outcomes[key] = dataclasses.replace(outcome, path=location)
        else:
            outcomes[key] = PartValidationError(str(outcome).replace(str(path), location))
    return dict(sorted(outcomes.items()))
