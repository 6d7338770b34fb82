"""The probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation
(CSCV): Bailey, Borwein, López de Prado and Zhu (2016), "The probability of backtest
overfitting", J. of Computational Finance 20(4), section 2 (the CSCV steps, the relative rank
ω̄_c, the logit λ_c and PBO φ).

The matrix is variants (N) x parts (T), the parts in time order, values per-part PnL, NaN for a
missing or failed cell. As written in the code below:

1. **Missing cells.** Parts that no variant has are dropped; then every variant missing any
   remaining part is dropped (CSCV needs every variant on every block). The result says how many
   parts and which variants were used.
2. **Blocks.** S is the largest even number ≤ min(T, ``MAX_BLOCKS``) (16: C(16, 8) = 12,870
   combinations). The parts are cut into S blocks of consecutive parts, as equal as they can be
   (the first T mod S blocks one part longer): no part is dropped (pypbo drops T mod S rows).
3. **Combinations.** For each of the C(S, S/2) sets J of S/2 blocks (in-sample; the other half
   J̄ is out-of-sample), every variant is scored on J and on J̄ by the metric (``scores``: the
   mean per-part PnL by default).
4. **Selection and rank.** n* is the in-sample best. Its out-of-sample rank r̄ among the N
   variants is 1 for the worst .. N for the best, a tie taking the average rank of the tied
   values; ω̄ = r̄ / (N + 1) and λ = ln(ω̄ / (1 - ω̄)).
5. **Ties in-sample.** When k variants tie for the in-sample best, each is n* with weight 1/k
   (no variant is favoured by its column).
6. **PBO** φ = the share of combinations with λ ≤ 0 (the selected variant did no better than
   the median out of sample), weighted as in 5.

Undefined (``pbo`` None, ``reason`` says why): fewer than two variants with every part (N = 1:
nothing was selected), fewer than two parts (with the ``sharpe`` metric: fewer than two parts in a
half), or every variant with the same result in every part (no selection can be better or worse
than another). A constant variant among others is scored like any other (``scores``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trading_runtime.sweeps.scores import Metric, scores_from_sums

__all__ = ["MAX_BLOCKS", "Pbo", "block_count", "probability_of_overfitting"]

MAX_BLOCKS = 16


@dataclass(frozen=True)
class Pbo:
    """CSCV's result: ``pbo`` (None with a ``reason`` when undefined), the number of blocks S,
    of combinations, of parts and the variants (row indices) used, and each combination's λ (the
    mean over in-sample ties) for a histogram."""

    pbo: float | None
    reason: str | None
    blocks: int
    combinations: int
    parts: int
    variants: tuple[int, ...]
    logits: tuple[float, ...]
    metric: str


def block_count(parts: int, max_blocks: int = MAX_BLOCKS) -> int:
    """S: the largest even number ≤ min(parts, max_blocks); 0 below two parts."""
    blocks = min(parts, max_blocks)
    return blocks - blocks % 2 if blocks >= 2 else 0


def _undefined(reason: str, metric: str, parts: int = 0, variants: tuple[int, ...] = ()) -> Pbo:
    return Pbo(None, reason, 0, 0, parts, variants, (), metric)


def _average_rank(values: npt.NDArray[np.float64], value: float) -> float:
    """The 1-based rank of ``value`` among ``values`` (ascending), ties at their average rank."""
    below = int(np.count_nonzero(values < value))
    equal = int(np.count_nonzero(values == value))
    return below + (equal + 1) / 2


def probability_of_overfitting(
    pnl: npt.ArrayLike, metric: Metric = "mean", max_blocks: int = MAX_BLOCKS
) -> Pbo:
    """PBO by CSCV of the variants x parts matrix ``pnl`` (see the module doc)."""
    matrix = np.atleast_2d(np.asarray(pnl, dtype=np.float64))
    present = np.isfinite(matrix)
    matrix = matrix[:, present.any(axis=0)]  # 1. parts no variant has
    used = tuple(int(i) for i in np.flatnonzero(np.isfinite(matrix).all(axis=1)))
    parts = matrix.shape[1]
    if len(used) < 2:
        said = "one variant" if matrix.shape[0] < 2 else f"{len(used)} variant(s)"
        return _undefined(
            f"{said} with a result in every part: nothing to select from", metric, parts, used
        )
    matrix = matrix[list(used)]
    blocks = block_count(parts, max_blocks)
    if blocks < 2:
        return _undefined(f"{parts} part(s): CSCV needs at least 2", metric, parts, used)
    if metric == "sharpe" and parts // blocks * (blocks // 2) < 2:
        return _undefined(
            f"{parts} part(s) in {blocks} blocks: a Sharpe ratio needs 2 parts per half",
            metric,
            parts,
            used,
        )
    if np.all(matrix == matrix[0]):
        return _undefined(
            "every variant has the same result in every part: no selection can differ",
            metric,
            parts,
            used,
        )
    # 2. Per block: each variant's sum, sum of squares, and the block's number of parts.
    groups = np.array_split(np.arange(parts), blocks)
    sums = np.stack([matrix[:, g].sum(axis=1) for g in groups], axis=1)
    squares = np.stack([(matrix[:, g] ** 2).sum(axis=1) for g in groups], axis=1)
    counts = np.array([len(g) for g in groups], dtype=np.float64)
    n = len(used)
    overfit, logits = 0.0, []
    for chosen in itertools.combinations(range(blocks), blocks // 2):  # 3.
        inside = np.zeros(blocks, dtype=bool)
        inside[list(chosen)] = True
        outside = ~inside
        in_score = scores_from_sums(
            sums[:, inside].sum(axis=1),
            squares[:, inside].sum(axis=1),
            counts[inside].sum(),
            metric,
        )
        out_score = scores_from_sums(
            sums[:, outside].sum(axis=1),
            squares[:, outside].sum(axis=1),
            counts[outside].sum(),
            metric,
        )
        best = np.nanmax(in_score)
        tied = np.flatnonzero(in_score == best)  # 5.
        lambdas = []
        for index in tied:  # 4.
            omega = _average_rank(out_score, out_score[index]) / (n + 1)
            lambdas.append(math.log(omega / (1 - omega)))
        overfit += sum(1 for value in lambdas if value <= 0) / len(lambdas)  # 6.
        logits.append(float(np.mean(lambdas)))
    return Pbo(overfit / len(logits), None, blocks, len(logits), parts, used, tuple(logits), metric)
