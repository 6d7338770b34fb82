"""A sweep's stored results as the variants x parts matrix the leaderboard ranks, and the ledger
of trials that the deflated Sharpe ratio counts.

Layout (the Argo batch's, every variant a complete results base; in Dagster the variant
``base``, the config itself, is ``<results>`` itself)::

    <results>/<variant id>/backtest_results/<part>/result.json
    <results>/trials/<base config hash>.json      (every variant ever run against that config)

Parts are ordered by key, which is time order for the generator's and the ingested parts' names
(``part-00000``, ``<symbol>-<yyyymmdd>-<hhmm>``); a cell is NaN where a variant has no stored
result for a part (missing or failed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from upath import UPath

from trading_runtime.layout import RESULTS_DIR
from trading_runtime.results.store import load_results, stored_result_keys
from trading_runtime.storage import as_upath, read_whole, write_file
from trading_runtime.sweeps.variants import Variant, variant_id_of

__all__ = [
    "TRIALS_DIR",
    "StoredSweep",
    "load_sweep_results",
    "record_trials",
    "variant_partitions_dir",
    "variant_results",
    "variant_results_base",
]

TRIALS_DIR = "trials"


def variant_results_base(results: str | Path | UPath, key: str) -> UPath:
    """The results base a variant's results live under: the base config's is ``results``
    itself (``<results>/backtest_results/<part>/``, as before variants existed); a sweep
    variant's is ``<results>/<id>`` (the Argo batch's layout and `trading-runtime sweep`'s)."""
    variant_id = variant_id_of(key)
    base = as_upath(results)
    return base if variant_id is None else base / variant_id


def variant_partitions_dir(results: str | Path | UPath, key: str) -> UPath:
    """``<results base of the variant>/backtest_results``."""
    return variant_results_base(results, key) / RESULTS_DIR


def variant_results(results: str | Path | UPath, variant: Variant) -> UPath:
    """Where a sweep variant's results live: ``<results>/<variant id>/backtest_results``."""
    return variant_partitions_dir(results, variant.key)


@dataclass(frozen=True)
class StoredSweep:
    """The variants (in the sweep's order), the parts (by key) and, per cell, the stored
    result's PnL and maximum drawdown (NaN where there is none)."""

    variants: tuple[Variant, ...]
    parts: tuple[str, ...]
    pnl: npt.NDArray[np.float64]
    drawdowns: npt.NDArray[np.float64]

    @property
    def keys(self) -> list[str]:
        return [variant.key for variant in self.variants]

    @property
    def has_result(self) -> list[bool]:
        """Per variant: whether any part has a stored result."""
        return [bool(row.any()) for row in np.isfinite(self.pnl)]

    @property
    def stored(self) -> int:
        return int(np.isfinite(self.pnl).sum())


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


# Results read at a time: the matrix keeps two numbers per cell, never every result at once, so
# memory stays flat in the number of parts (benchmarks/sweep_scale.py measures it).
_CHUNK = 256


def _cells(results: str | Path | UPath, variant: Variant) -> dict[str, tuple[float, float]]:
    """A variant's (PnL, max drawdown) by part, read ``_CHUNK`` results at a time."""
    partitions = variant_results(results, variant)
    keys = stored_result_keys(results, partitions=partitions)
    cells: dict[str, tuple[float, float]] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = load_results(results, keys[start : start + _CHUNK], partitions=partitions)
        for key, result in chunk.items():
            metrics = result.metrics
            cells[key] = (_number(metrics.get("pnl")), _number(metrics.get("max_drawdown")))
    return cells


def load_sweep_results(results: str | Path | UPath, variants: Sequence[Variant]) -> StoredSweep:
    """Every variant's stored results under ``results`` as a variants x parts matrix."""
    loaded = [_cells(results, variant) for variant in variants]
    parts = sorted({key for cells in loaded for key in cells})
    pnl = np.full((len(variants), len(parts)), np.nan)
    drawdowns = np.full_like(pnl, np.nan)
    column = {key: index for index, key in enumerate(parts)}
    for row, cells in enumerate(loaded):
        for key, (part_pnl, drawdown) in cells.items():
            pnl[row, column[key]] = part_pnl
            drawdowns[row, column[key]] = drawdown
    return StoredSweep(tuple(variants), tuple(parts), pnl, drawdowns)


def record_trials(
    results: str | Path | UPath, base_config_hash: str, config_hashes: Sequence[str]
) -> int:
    """Add ``config_hashes`` (the variants run) to the ledger of trials against the base config
    and return how many distinct variants it now holds: N of the deflated Sharpe ratio, which a
    second sweep over the same base config must not reset."""
    ledger = as_upath(results) / TRIALS_DIR / f"{base_config_hash[:16]}.json"
    known: set[str] = set()
    try:
        document = json.loads(read_whole(ledger))
        known = {str(h) for h in document.get("config_hashes", [])}
    except FileNotFoundError:
        pass
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"trials ledger {ledger}: not a ledger written by the runtime ({exc})"
        ) from None
    merged = sorted(known | set(config_hashes))
    if merged != sorted(known):
        body = {"base_config_hash": base_config_hash, "config_hashes": merged}
        write_file((json.dumps(body, indent=1, sort_keys=True) + "\n").encode(), ledger)
    return len(merged)
