"""Walk-forward selection: for each part after the first ``window``, pick the best variant on the
``window`` parts before it and record its PnL on that part: what choosing by recent results
would have earned out of sample.

The matrix is variants x parts (parts in time order), per-part PnL, NaN missing or failed. As
written in the code:

- the pick for part t is the variant with the best score (``scores``: mean per-part PnL by
  default) over parts t - window .. t - 1; a variant missing any of those parts cannot be picked;
  a tie goes to the variant first in the sweep's order (``scores.best_index``);
- no variant has all ``window`` parts: no pick, the part counts as missing; the picked variant's
  own result missing on part t: the part counts as missing too. Missing parts add 0 to the totals
  and to the equity curves;
- the comparison is the in-sample best: the leaderboard's first variant
  (``scores.rank_order`` over all parts, which saw every part including the ones it is scored
  on), on the same parts t ≥ window. The gap between the two totals is what hindsight is worth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading_runtime.sweeps.scores import Metric, best_index, rank_order, scores

__all__ = ["DEFAULT_WINDOW", "WalkForward", "walk_forward"]

DEFAULT_WINDOW = 3


@dataclass(frozen=True)
class WalkForward:
    """The walk-forward picks and, beside them, the in-sample best on the same parts.

    ``parts`` are the part indices scored (``window`` .. T - 1); ``picks`` the variant index
    chosen for each (None: no variant had the whole window); ``pnl`` the picked variant's PnL
    there (NaN missing); ``in_sample_pnl`` the in-sample best's. Totals add the present values;
    the equity curves are their running sums (missing as 0), for a chart."""

    window: int
    metric: str
    parts: tuple[int, ...]
    picks: tuple[int | None, ...]
    pnl: tuple[float, ...]
    total: float
    missing: int
    in_sample_best: int | None
    in_sample_pnl: tuple[float, ...]
    in_sample_total: float

    @property
    def equity(self) -> npt.NDArray[np.float64]:
        return np.cumsum(np.nan_to_num(np.asarray(self.pnl, dtype=np.float64), nan=0.0))

    @property
    def in_sample_equity(self) -> npt.NDArray[np.float64]:
        values = np.asarray(self.in_sample_pnl, dtype=np.float64)
        return np.cumsum(np.nan_to_num(values, nan=0.0))


def walk_forward(
    pnl: npt.ArrayLike, window: int = DEFAULT_WINDOW, metric: Metric = "mean"
) -> WalkForward:
    """Walk-forward selection over the variants x parts matrix (see the module doc)."""
    if window < 1:
        raise ValueError(f"walk-forward window {window}: must be at least 1 part")
    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    variants, parts = matrix.shape
    picks: list[int | None] = []
    picked: list[float] = []
    for part in range(window, parts):
        history = matrix[:, part - window : part]
        score = scores(history, metric)
        score[~np.isfinite(history).all(axis=1)] = np.nan  # missing a part of the window
        pick = best_index(score)
        picks.append(pick)
        picked.append(float(matrix[pick, part]) if pick is not None else float("nan"))
    scored = tuple(range(window, parts))
    best = rank_order(matrix, metric)[0] if variants and parts else None
    in_sample = [float(matrix[best, p]) for p in scored] if best is not None else []
    if best is None:
        in_sample = [float("nan")] * len(scored)
    values = np.asarray(picked, dtype=np.float64)
    return WalkForward(
        window=window,
        metric=metric,
        parts=scored,
        picks=tuple(picks),
        pnl=tuple(picked),
        total=float(np.nansum(values)) if values.size else 0.0,
        missing=int(np.count_nonzero(np.isnan(values))),
        in_sample_best=best,
        in_sample_pnl=tuple(in_sample),
        in_sample_total=float(np.nansum(in_sample)) if in_sample else 0.0,
    )
