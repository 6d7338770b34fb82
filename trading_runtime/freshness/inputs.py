"""The input files a result would list now (warm-up parts, then the part itself, with their
sha256), compared with what a stored result lists: a warm-up part changed, or the warm-up
neighbours are other parts now."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from upath import UPath

from trading_runtime.config import BacktestConfig
from trading_runtime.data.order import WarmupError, open_binary, ordered_parts, select_warmup
from trading_runtime.data.parts_store import part_location
from trading_runtime.storage import as_upath

__all__ = ["recorded_inputs", "stale_inputs", "warmup_input_hashes", "warmup_inputs_by_key"]


def _stream_sha256(location: UPath) -> str:
    with open_binary(location) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def warmup_inputs_by_key(
    config: BacktestConfig,
    parts_dir: str | Path | UPath,
    keys: Sequence[str],
    known_sha256: Mapping[str, str] | None = None,
    sha256_of: Callable[[UPath], str] = _stream_sha256,
) -> dict[str, list[tuple[str, str]] | WarmupError]:
    """What the result of each partition in ``keys`` lists as ``inputs``, as (part, sha256)
    pairs in feeding order (warm-up parts, then the part itself), without running anything.

    A staleness check compares it with a stored result's ``provenance["inputs"]``: the result is
    stale when they differ (a warm-up part changed, was added before it or removed). Each file is
    hashed once; ``known_sha256`` (by key) skips hashing files whose hash the caller has.
    Without a warm-up section, the part alone."""
    base = as_upath(parts_dir)
    hashes = dict(known_sha256 or {})

    def sha(key: str, location: UPath) -> str:
        if key not in hashes:
            hashes[key] = sha256_of(location)
        return hashes[key]

    outcomes: dict[str, list[tuple[str, str]] | WarmupError] = {}
    if config.warmup is None:
        for key in keys:
            outcomes[key] = [(key, sha(key, part_location(base, key)))]
        return outcomes
    try:
        ordered = ordered_parts(base)
    except WarmupError as exc:
        return dict.fromkeys(keys, exc)
    located = {p.key: p.location for p in ordered}
    for key in keys:
        try:
            chosen = select_warmup(config.warmup, ordered, key)
        except WarmupError as exc:
            outcomes[key] = exc
            continue
        pairs = [(p.key, sha(p.key, p.location)) for p in chosen]
        outcomes[key] = [*pairs, (key, sha(key, located[key]))]
    return outcomes


def warmup_input_hashes(
    config: BacktestConfig, parts_dir: str | Path | UPath, key: str
) -> list[tuple[str, str]]:
    """``warmup_inputs_by_key`` for one partition; raises ``WarmupError`` when its warm-up
    cannot be resolved."""
    outcome = warmup_inputs_by_key(config, parts_dir, [key])[key]
    if isinstance(outcome, WarmupError):
        raise outcome
    return outcome


def recorded_inputs(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A stored result's inputs as (part, sha256) pairs; a result stored before inputs were
    recorded had its part alone."""
    entries = provenance.get("inputs")
    if entries is None:
        return [(str(provenance["part"]), str(provenance["part_sha256"]))]
    return [(str(entry["part"]), str(entry["sha256"])) for entry in entries]


def stale_inputs(
    config: BacktestConfig,
    parts_dir: str | Path | UPath,
    provenances: Mapping[str, Mapping[str, Any]],
    known_sha256: Mapping[str, str] | None = None,
    sha256_of: Callable[[UPath], str] = _stream_sha256,
) -> dict[str, str]:
    """Stored results (provenance by partition key) whose input files are not the ones this
    config would feed now, each with the reason: the part or a warm-up part changed, the warm-up
    neighbours are other parts (one was added, removed or renamed), or the warm-up cannot be
    resolved any more (re-running fails it, naming what is missing). Up-to-date keys are absent.
    Code inputs (config, strategy, engine) are compared elsewhere (``freshness.staleness``)."""
    expected = warmup_inputs_by_key(config, parts_dir, sorted(provenances), known_sha256, sha256_of)
    reasons: dict[str, str] = {}
    for key, provenance in sorted(provenances.items()):
        wanted = expected[key]
        if isinstance(wanted, WarmupError):
            reasons[key] = str(wanted)
            continue
        recorded = recorded_inputs(provenance)
        if recorded == wanted:
            continue
        if [part for part, _ in recorded] != [part for part, _ in wanted]:
            reasons[key] = (
                f"inputs are now {', '.join(p for p, _ in wanted)} (the result used"
                f" {', '.join(p for p, _ in recorded)})"
            )
        else:
            changed = [p for (p, old), (_, new) in zip(recorded, wanted, strict=True) if old != new]
            reasons[key] = f"input(s) changed since the result: {', '.join(changed)}"
    return reasons
