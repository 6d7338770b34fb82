"""The leaderboard: variants ranked across parts, with what says whether the winner is likely an
overfit (PBO by CSCV, the deflated Sharpe ratio, walk-forward selection).

Input: each variant's key (in the sweep's order) and the variants x parts matrix of per-part PnL
(parts in time order, NaN for a missing or failed cell); optionally each part's own maximum
drawdown (same shape). Per variant, over its present parts:

- ``total``, ``mean``, ``median``, ``worst`` (the minimum) per-part PnL;
- ``sharpe``: of the concatenated per-part results, mean / std (``ddof=1``), per part, not
  annualised (``deflated.sharpe_ratio``; per-part returns are PnL over a constant capital, so the
  same ratio);
- ``max_drawdown``: the largest fall of the cumulative per-part PnL from its running peak, the
  running sum starting at 0 before the first part, over present parts in time order (a drawdown
  across parts, as a positive number); ``worst_part_drawdown``: the largest of the parts' own
  maximum drawdowns, when given (a drawdown within a part);
- ``profitable_share``: the share of present parts with PnL > 0;
- ``parts``, ``missing``: parts present, and missing or failed.

Rank (``scores.rank_order``): complete variants first, then by the metric (mean per-part PnL by
default) highest first, ties in the sweep's order. The deflated Sharpe ratio is the first
variant's, with N = ``trials`` (every variant ever run against the base config, from the caller's
ledger; at least the variants here) and the variance of ``trial_sharpes`` (default: this sweep's
variants' Sharpe ratios).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trading_runtime.sweeps.deflated import SharpeStatistics, sharpe_ratio, sharpe_statistics
from trading_runtime.sweeps.overfitting import MAX_BLOCKS, Pbo, probability_of_overfitting
from trading_runtime.sweeps.scores import Metric, rank_order
from trading_runtime.sweeps.walk_forward import DEFAULT_WINDOW, WalkForward, walk_forward

__all__ = ["Leaderboard", "LeaderboardRow", "build_leaderboard", "max_drawdown"]


def max_drawdown(pnl: npt.ArrayLike) -> float | None:
    """The largest fall of the running sum of the present per-part PnL from its running peak
    (the sum starts at 0); None without any present part."""
    values = np.asarray(pnl, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    equity = np.concatenate([[0.0], np.cumsum(values)])
    return float(np.max(np.maximum.accumulate(equity) - equity))


@dataclass(frozen=True)
class LeaderboardRow:
    """One variant's line of the leaderboard (None where it has no present part)."""

    rank: int
    key: str
    total: float | None
    mean: float | None
    median: float | None
    worst: float | None
    sharpe: float | None
    max_drawdown: float | None
    worst_part_drawdown: float | None
    profitable_share: float | None
    parts: int
    missing: int


@dataclass(frozen=True)
class Leaderboard:
    """The ranked rows and the overfitting statistics of the sweep."""

    rows: tuple[LeaderboardRow, ...]
    metric: str
    pbo: Pbo
    best_sharpe: SharpeStatistics | None
    walk_forward: WalkForward

    def table(self) -> list[dict[str, Any]]:
        """The rows as plain dicts, in rank order: a table for metadata or a file."""
        return [row.__dict__.copy() for row in self.rows]


def _row(rank: int, key: str, pnl: npt.NDArray[np.float64], drawdowns: Any) -> LeaderboardRow:
    present = pnl[np.isfinite(pnl)]
    count = int(present.size)

    def stat(value: float) -> float | None:
        return float(value) if count else None

    worst_part = None
    if drawdowns is not None and np.isfinite(drawdowns).any():
        worst_part = float(np.nanmax(drawdowns))
    return LeaderboardRow(
        rank=rank,
        key=key,
        total=stat(present.sum()),
        mean=stat(present.mean()) if count else None,
        median=stat(np.median(present)) if count else None,
        worst=stat(present.min()) if count else None,
        sharpe=sharpe_ratio(present),
        max_drawdown=max_drawdown(present),
        worst_part_drawdown=worst_part,
        profitable_share=stat(np.count_nonzero(present > 0) / count) if count else None,
        parts=count,
        missing=int(pnl.size - count),
    )


def build_leaderboard(
    keys: Sequence[str],
    pnl: npt.ArrayLike,
    *,
    part_drawdowns: npt.ArrayLike | None = None,
    metric: Metric = "mean",
    trials: int | None = None,
    trial_sharpes: Sequence[float] | None = None,
    window: int = DEFAULT_WINDOW,
    max_blocks: int = MAX_BLOCKS,
) -> Leaderboard:
    """The leaderboard of the variants ``keys`` over the variants x parts matrix ``pnl`` (see
    the module doc). ``trials`` defaults to the number of variants."""
    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    if matrix.shape[0] != len(keys):
        raise ValueError(f"{len(keys)} variant key(s) for {matrix.shape[0]} matrix row(s)")
    drawdowns = None
    if part_drawdowns is not None:
        drawdowns = np.atleast_2d(np.asarray(part_drawdowns, dtype=np.float64))
        if drawdowns.shape != matrix.shape:
            raise ValueError(f"part drawdowns {drawdowns.shape}, PnL matrix {matrix.shape}")
    trials = len(keys) if trials is None else trials
    if trials < len(keys):
        raise ValueError(f"{trials} trial(s) for {len(keys)} variants: trials count every one")
    order = rank_order(matrix, metric) if len(keys) else []
    rows = tuple(
        _row(rank, keys[i], matrix[i], None if drawdowns is None else drawdowns[i])
        for rank, i in enumerate(order, start=1)
    )
    sharpes = [row.sharpe for row in rows if row.sharpe is not None]
    best = (
        sharpe_statistics(
            matrix[order[0]], trials, sharpes if trial_sharpes is None else trial_sharpes
        )
        if order
        else None
    )
    return Leaderboard(
        rows=rows,
        metric=metric,
        pbo=probability_of_overfitting(matrix, metric, max_blocks),
        best_sharpe=best,
        walk_forward=walk_forward(matrix, window, metric),
    )
