"""Whether stored results are damaged (a listed file missing or altered, ``result.json`` not
one), checked cheaply: each file's sha256 is cached by size and mtime beside the Dagster instance
(``$DAGSTER_HOME/trading-runtime-result-hashes.json``), as part hashes are (``part_hashes``), so
a clean re-check stats the files instead of reading them. Without ``DAGSTER_HOME`` (the CLI's
``aggregate`` outside an instance) the cache lives in memory and every file is read once.

What would escape it: bytes changed with the size and mtime put back (a deliberate forgery, or a
disk's silent corruption). ``BacktestResult.read_verified`` still checks the bytes it reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from upath import UPath

from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.results import BacktestResult, ResultIntegrityError
from trading_runtime.results.result import Sha256Of
from trading_runtime.results.store import load_results
from trading_runtime.storage import as_upath

__all__ = [
    "RESULT_HASHES_FILE",
    "cached_sha256",
    "damaged_error",
    "damaged_results",
    "result_hash_cache",
]

RESULT_HASHES_FILE = "trading-runtime-result-hashes.json"
# How many damaged results one error line names.
_NAMED = 3


def result_hash_cache() -> PartHashCache:
    """The stored results' file hashes, cached beside the instance (in memory without one)."""
    home = os.environ.get("DAGSTER_HOME")
    return PartHashCache(Path(home) / RESULT_HASHES_FILE if home else None)


def cached_sha256(hashes: PartHashCache) -> Sha256Of:
    """``BacktestResult.verify``'s way of hashing, through ``hashes``."""
    return lambda path: hashes.sha256(as_upath(path))


def damaged_results(
    results: Mapping[str, BacktestResult], hashes: PartHashCache | None = None
) -> dict[str, ResultIntegrityError]:
    """The damaged ones among ``results`` (by key), each with its error; the cache is saved."""
    cache = hashes if hashes is not None else result_hash_cache()
    damaged: dict[str, ResultIntegrityError] = {}
    for key, result in results.items():
        try:
            result.verify(cached_sha256(cache))
        except ResultIntegrityError as exc:
            damaged[key] = exc
    cache.save()
    return damaged


def damaged_error(damaged: Mapping[str, ResultIntegrityError]) -> ResultIntegrityError:
    """One error (one line) for several damaged results: how many, and the first few."""
    named = "; ".join(str(error) for _, error in sorted(damaged.items())[:_NAMED])
    more = f"; and {len(damaged) - _NAMED} more" if len(damaged) > _NAMED else ""
    return ResultIntegrityError(
        f"{len(damaged)} stored result(s) damaged (backtest them again): {named}{more}",
        f"{len(damaged)} stored result(s) damaged",
    )


def load_verified(
    results: str | Path | UPath,
    keys: Iterable[str] | None = None,
    *,
    partitions: UPath | None = None,
    hashes: PartHashCache | None = None,
) -> dict[str, BacktestResult]:
    """``store.load_results``, every result verified: any damaged one (unreadable
    ``result.json``, a listed file missing or altered) raises one ``damaged_error`` naming them."""
    damaged: dict[str, ResultIntegrityError] = {}
    loaded = load_results(results, keys, partitions=partitions, damaged=damaged)
    damaged.update(damaged_results(loaded, hashes))
    if damaged:
        raise damaged_error(damaged)
    return loaded
