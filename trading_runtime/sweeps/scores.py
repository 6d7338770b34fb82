"""How variants are scored and the best one picked: one rule for the leaderboard, CSCV and the
walk-forward selection.

The input everywhere is a matrix of per-part PnL, variants x parts (parts in time order), NaN
for a cell whose result is missing or failed.

Metrics (``METRICS``), of a variant over a set of parts:

- ``mean``: the mean per-part PnL (the default). Over a common set of parts it orders variants as
  their total does; over parts with gaps it does not reward a variant for having fewer losses
  recorded.
- ``sharpe``: mean / standard deviation (``ddof=1``) of the per-part PnL, as
  ``deflated.sharpe_ratio``; a constant series scores +inf, -inf or 0 by the sign of its mean (a
  sure gain beats any risky one), fewer than two parts score NaN.

Best (``best_index``): the highest score; NaN never wins; a tie goes to the variant that comes
first (the sweep's order), so the pick never depends on floating-point noise in sorting.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["METRICS", "Metric", "best_index", "rank_order", "scores", "scores_from_sums"]

Metric = Literal["mean", "sharpe"]
METRICS: tuple[Metric, ...] = ("mean", "sharpe")


def scores_from_sums(
    sums: npt.NDArray[np.float64],
    squares: npt.NDArray[np.float64],
    counts: npt.NDArray[np.float64],
    metric: Metric,
) -> npt.NDArray[np.float64]:
    """Scores from each variant's sum, sum of squares and count of per-part PnL (any shape,
    broadcast): how CSCV scores unions of blocks without touching the parts again."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = sums / counts
        if metric == "mean":
            return np.asarray(mean, dtype=np.float64)
        if metric != "sharpe":
            raise ValueError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
        variance = (squares - counts * mean**2) / (counts - 1)
        # Rounding can leave a constant series a tiny variance, relative to its level.
        scale = np.maximum(squares / counts, np.finfo(np.float64).tiny)
        constant = variance <= scale * 1e-12
        std = np.sqrt(np.where(constant, 1.0, variance))
        result = np.where(constant, np.sign(mean) * np.inf, mean / std)
        result = np.where(constant & (mean == 0), 0.0, result)
        return np.asarray(np.where(counts < 2, np.nan, result), dtype=np.float64)


def scores(pnl: npt.ArrayLike, metric: Metric = "mean") -> npt.NDArray[np.float64]:
    """Each row's score over its present (non-NaN) cells; NaN for a row without any."""
    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    present = np.isfinite(matrix)
    values = np.where(present, matrix, 0.0)
    counts = present.sum(axis=1).astype(np.float64)
    return scores_from_sums(values.sum(axis=1), (values**2).sum(axis=1), counts, metric)


def best_index(values: npt.ArrayLike) -> int | None:
    """The index of the highest score (ties: the first); None when every score is NaN."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0 or np.all(np.isnan(array)):
        return None
    return int(np.nanargmax(array))  # nanargmax returns the first of equal maxima


def rank_order(pnl: npt.ArrayLike, metric: Metric = "mean") -> list[int]:
    """Variant indices best first: variants with a result in every part before those missing
    some, then by score (highest first, NaN last), then in the sweep's order."""
    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    score = scores(matrix, metric)
    missing = (~np.isfinite(matrix)).sum(axis=1)
    key = np.where(np.isnan(score), -np.inf, score)
    # np.lexsort sorts by the last key first; it is stable, so ties keep the sweep's order.
    order = np.lexsort((np.isnan(score), -key, missing > 0))
    return [int(i) for i in order]
