"""The overfitting statistics against small matrices computed by hand, the deflated Sharpe
paper's worked example, noise (PBO about one half) and a dominant variant (PBO near 0), and the
edge cases: one variant, a constant column, NaN cells, ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trading_runtime.sweeps.deflated import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_statistics,
)
from trading_runtime.sweeps.leaderboard import build_leaderboard, max_drawdown
from trading_runtime.sweeps.overfitting import block_count, probability_of_overfitting
from trading_runtime.sweeps.scores import rank_order, scores
from trading_runtime.sweeps.walk_forward import walk_forward

NAN = float("nan")


# ------------------------------------------------------------------ deflated Sharpe ratio


def test_the_deflated_sharpe_papers_worked_example() -> None:
    """Bailey & López de Prado (2014): SR 2.5 annualised over T = 1,250 daily returns, N = 100
    trials whose annualised Sharpe ratios have variance 0.5, skew -3, kurtosis 10. Everything per
    period (daily: 250 a year): SR = 2.5/√250, V = 0.5/250. The paper: SR0 ≈ 0.1132 (≈ 1.7894
    annualised), DSR ≈ 0.9004."""
    sharpe, variance = 2.5 / math.sqrt(250), 0.5 / 250
    benchmark = expected_max_sharpe(100, variance)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    assert expected_max_sharpe(100, 0.5) == pytest.approx(1.7894, abs=5e-5)
    assert benchmark * math.sqrt(250) == pytest.approx(expected_max_sharpe(100, 0.5))
    dsr = deflated_sharpe_ratio(sharpe, 1250, -3.0, 10.0, 100, variance)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    # Mixing an annualised SR with a daily T would claim near certainty.
    assert deflated_sharpe_ratio(2.5, 1250, -3.0, 10.0, 100, 0.5) > 0.999


def test_psr_by_hand_and_undefined_cases() -> None:
    # Normal returns (skew 0, kurtosis 3): Φ(SR √(T-1) / √(1 + SR²/2)).
    expected = 0.5 * (1 + math.erf(0.2 * math.sqrt(99) / math.sqrt(1.02) / math.sqrt(2)))
    assert probabilistic_sharpe_ratio(0.2, 0.0, 100, 0.0, 3.0) == pytest.approx(expected)
    assert probabilistic_sharpe_ratio(0.2, 0.0, 1, 0.0, 3.0) is None
    assert expected_max_sharpe(1, 0.5) is None  # N = 1: Φ⁻¹(0) = -∞
    assert deflated_sharpe_ratio(0.2, 100, 0.0, 3.0, 1, 0.5) is None


def test_sharpe_and_moments_by_hand() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert sharpe_ratio(values) == pytest.approx(3.0 / math.sqrt(2.5))
    skew, kurtosis = moments(values) or (NAN, NAN)
    assert skew == pytest.approx(0.0) and kurtosis == pytest.approx(6.8 / 4.0)  # non-excess
    assert sharpe_ratio([1.0, 1.0, 1.0]) is None and moments([2.0, 2.0]) is None
    assert sharpe_ratio([1.0, NAN, 3.0]) == pytest.approx(2.0 / math.sqrt(2.0))


def test_sharpe_statistics_say_why_a_value_is_undefined() -> None:
    one = sharpe_statistics([1.0, -0.5, 2.0, 0.5], trials=1, trial_sharpes=[0.6])
    assert one.psr is not None and one.dsr is None and "one trial" in (one.reason or "")
    constant = sharpe_statistics([1.0, 1.0, 1.0], trials=5, trial_sharpes=[0.1, 0.2])
    assert constant.sharpe is None and "the same result in every part" in (constant.reason or "")
    many = sharpe_statistics([1.0, -0.5, 2.0, 0.5], trials=10, trial_sharpes=[0.1, 0.3, 0.2])
    assert many.dsr is not None and many.psr is not None and many.dsr < many.psr


# ------------------------------------------------------------------------------ PBO (CSCV)


def test_pbo_of_two_by_two_matrices_by_hand() -> None:
    # S = 2 blocks of one part, 2 combinations. Each in-sample best is the out-of-sample worst:
    # rank 1 of 2, ω = 1/3, λ = ln(1/2) ≤ 0 both times.
    swapped = probability_of_overfitting([[1.0, 0.0], [0.0, 1.0]])
    assert (swapped.pbo, swapped.blocks, swapped.combinations) == (1.0, 2, 2)
    assert swapped.logits == pytest.approx([math.log(0.5)] * 2)
    # The in-sample best is the out-of-sample best: ω = 2/3, λ = ln 2.
    dominant = probability_of_overfitting([[2.0, 2.0], [1.0, 1.0]])
    assert dominant.pbo == 0.0 and dominant.logits == pytest.approx([math.log(2.0)] * 2)


def test_pbo_ties_by_hand() -> None:
    # Block 0 in-sample: A and B tie (1, 1), each selected with weight 1/2; out of sample (block
    # 1: A 1, B 0) A ranks 2 (λ = ln 2 > 0) and B 1 (λ < 0): 1/2 overfit. Block 1 in-sample: A
    # (1 > 0); out of sample A and B tie (1, 1) at the average rank 1.5: ω = 1/2, λ = 0, overfit.
    # PBO = (1/2 + 1) / 2.
    result = probability_of_overfitting([[1.0, 1.0], [1.0, 0.0]])
    assert result.pbo == pytest.approx(0.75)
    assert result.logits == pytest.approx([0.0, 0.0])  # (ln 2 + ln 1/2) / 2, and 0


def test_blocks_are_even_and_keep_every_part() -> None:
    assert [block_count(t) for t in (0, 1, 2, 3, 7, 16, 17, 500)] == [0, 0, 2, 2, 6, 16, 16, 16]
    result = probability_of_overfitting(np.arange(21.0).reshape(3, 7) % 5)
    assert (result.blocks, result.combinations, result.parts) == (6, 20, 7)


def test_pure_noise_overfits_about_half_the_time() -> None:
    """With no skill the in-sample best's out-of-sample rank is uniform: PBO is 1/2 on average.
    One matrix's PBO varies widely (its combinations share blocks), so average over 100."""
    rng = np.random.default_rng(20160401)
    values = [
        probability_of_overfitting(rng.normal(size=(20, 16)), max_blocks=8).pbo for _ in range(100)
    ]
    assert all(v is not None for v in values)
    assert 0.43 <= np.mean([v for v in values if v is not None]) <= 0.57
    assert probability_of_overfitting(rng.normal(size=(20, 32))).blocks == 16


def test_one_dominant_variant_does_not_overfit() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(20, 48))
    matrix[11] += 1.5
    result = probability_of_overfitting(matrix)
    assert result.pbo is not None and result.pbo <= 0.02
    assert probability_of_overfitting(matrix, metric="sharpe").pbo <= 0.02


def test_pbo_edge_cases() -> None:
    one = probability_of_overfitting([[1.0, 2.0, 3.0, 4.0]])
    assert one.pbo is None and "one variant" in (one.reason or "")
    short = probability_of_overfitting([[1.0], [2.0]])
    assert short.pbo is None and "1 part(s)" in (short.reason or "")
    same = probability_of_overfitting([[1.0, 2.0], [1.0, 2.0]])
    assert same.pbo is None and "same result" in (same.reason or "")
    # A constant column among noise is just another variant.
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(6, 8))
    matrix[2] = 0.25
    assert probability_of_overfitting(matrix).pbo is not None
    assert probability_of_overfitting(matrix, metric="sharpe").pbo is not None
    # NaN: a part no variant has is dropped; then a variant missing a part is dropped.
    holes = np.vstack([matrix, np.full(8, 1.0)])
    holes[:, 3] = NAN
    holes[4, 0] = NAN
    result = probability_of_overfitting(holes)
    assert result.parts == 7 and result.variants == (0, 1, 2, 3, 5, 6)
    assert result.pbo is not None
    missing = probability_of_overfitting([[1.0, NAN], [NAN, 1.0]])
    assert missing.pbo is None and "0 variant(s) with a result in every part" in (
        missing.reason or ""
    )


# ------------------------------------------------------------------ scores and walk-forward


def test_scores_and_ranks() -> None:
    matrix = [[1.0, 1.0], [2.0, NAN], [3.0, -1.0], [1.0, 1.0]]
    assert scores(matrix).tolist() == [1.0, 2.0, 1.0, 1.0]
    # Complete variants first; ties (rows 0, 2, 3 score 1) in the sweep's order.
    assert rank_order(matrix) == [0, 2, 3, 1]
    assert scores([[1.0, 1.0], [0.0, 0.0], [-1.0, -1.0]], "sharpe").tolist() == [
        math.inf,
        0.0,
        -math.inf,
    ]


def test_walk_forward_by_hand() -> None:
    matrix = [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    result = walk_forward(matrix, window=1)
    # Each part picks the previous part's winner, which loses: 0 + 0 + 0.
    assert result.parts == (1, 2, 3) and result.picks == (0, 1, 0) and result.total == 0.0
    # In-sample: both mean 0.5, the tie goes to the first; its parts 1..3 give 0 + 1 + 0.
    assert result.in_sample_best == 0 and result.in_sample_total == 1.0
    assert result.equity.tolist() == [0.0, 0.0, 0.0]
    assert result.in_sample_equity.tolist() == [0.0, 1.0, 1.0]


def test_walk_forward_ties_and_missing_cells() -> None:
    # Window 2. Part 2: A (0, 2) ties B (1, 1) at mean 1, the first (A) wins; part 3: B misses
    # part 2, so A; part 4: A misses part 3 and B part 2: no pick.
    matrix = [[0.0, 2.0, 5.0, NAN, 1.0], [1.0, 1.0, NAN, 7.0, 3.0]]
    result = walk_forward(matrix, window=2)
    assert result.picks == (0, 0, None)
    assert result.pnl[0] == 5.0 and math.isnan(result.pnl[1]) and math.isnan(result.pnl[2])
    assert result.total == 5.0 and result.missing == 2
    with pytest.raises(ValueError, match="at least 1"):
        walk_forward(matrix, window=0)


# ---------------------------------------------------------------------------- leaderboard


def test_leaderboard_rows_by_hand() -> None:
    pnl = [[1.0, -2.0, 1.0, -1.0], [0.5, 0.5, NAN, 0.5], [2.0, 1.0, -1.0, 0.0]]
    drawdowns = [[0.5, 2.5, 0.2, 1.0], [0.1, 0.1, NAN, 0.1], [0.3, 0.4, 1.5, 0.2]]
    board = build_leaderboard(["a", "b", "c"], pnl, part_drawdowns=drawdowns, window=2)
    assert [row.key for row in board.rows] == ["c", "a", "b"]  # b misses a part: last
    c, a, b = board.rows
    assert (a.total, a.mean, a.median, a.worst) == (-1.0, -0.25, 0.0, -2.0)
    assert a.max_drawdown == 2.0 and a.worst_part_drawdown == 2.5  # equity 0 1 -1 0 -1
    assert a.profitable_share == 0.5 and (a.parts, a.missing) == (4, 0)
    assert (b.total, b.parts, b.missing, b.sharpe) == (1.5, 3, 1, None)
    assert c.max_drawdown == 1.0 and c.sharpe == pytest.approx(0.5 / np.std([2, 1, -1, 0], ddof=1))
    assert max_drawdown([NAN]) is None
    assert board.best_sharpe is not None and board.best_sharpe.trials == 3
    assert board.pbo.variants == (0, 2)  # b is missing a part
    assert board.walk_forward.in_sample_best == 2
    assert board.table()[0]["key"] == "c" and set(board.table()[0]) >= {"rank", "sharpe"}
    with pytest.raises(ValueError, match="trials count every one"):
        build_leaderboard(["a", "b", "c"], pnl, trials=2)
