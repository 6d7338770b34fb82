"""The Sharpe ratio of a series of per-part results, its probabilistic Sharpe ratio (PSR) and the
deflated Sharpe ratio (DSR) of the best of several trials.

Definitions (all per period: a period is one part; nothing is annualised):

- Sharpe ratio: mean / standard deviation (``ddof=1``) of the per-part values, with no risk-free
  rate. The per-part return is PnL over the config's constant capital
  (``risk.notional_limits.max_gross_notional``), so the Sharpe of the per-part returns equals the
  Sharpe of the per-part PnL and is computed from either.
- Skewness g3 = m3 / m2^1.5 and *non-excess* kurtosis g4 = m4 / m2² from the central moments
  (population, ``ddof=0``; a normal series has g4 = 3; pandas' ``.kurt()`` is excess, g4 - 3).
- PSR (Bailey & López de Prado 2012, "The Sharpe ratio efficient frontier", J. of Risk 15(2),
  the PSR definition, the form the 2014 paper below evaluates at SR0):
  PSR(SR*) = Φ[(SR - SR*) √(T - 1) / √(1 - g3 SR + (g4 - 1)/4 SR²)], T the number of parts.
- Expected maximum Sharpe of N trials (Bailey & López de Prado 2014, "The deflated Sharpe ratio",
  J. of Portfolio Management 40(5), the SR0 of the DSR, after the false strategy theorem):
  SR0 = μ + s [(1 - g) Φ⁻¹(1 - 1/N) + g Φ⁻¹(1 - 1/(N e))], s² the variance (``ddof=1``) of the
  trials' Sharpe ratios, μ their mean under the null (0), g the Euler-Mascheroni constant.
  Undefined at N = 1 (Φ⁻¹(0) = -∞): there is no selection to deflate.
- DSR = PSR(SR0) (same paper, the DSR equation).

The trial count N is the caller's (every variant ever run against the base config), not just the
variants at hand; trial Sharpe ratios must be per period like SR and T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "EULER_GAMMA",
    "SharpeStatistics",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "moments",
    "probabilistic_sharpe_ratio",
    "sharpe_ratio",
    "sharpe_statistics",
]

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def sharpe_ratio(values: npt.ArrayLike) -> float | None:
    """Mean / standard deviation (``ddof=1``) of the finite values; None for fewer than two or a
    zero deviation (a constant series has no Sharpe ratio)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return None
    std = float(np.std(array, ddof=1))
    return float(np.mean(array)) / std if std > 0 else None


def moments(values: npt.ArrayLike) -> tuple[float, float] | None:
    """Skewness and non-excess kurtosis (population central moments) of the finite values;
    None for fewer than two or a constant series."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size < 2:
        return None
    centred = array - array.mean()
    m2 = float(np.mean(centred**2))
    if m2 <= 0:
        return None
    return float(np.mean(centred**3)) / m2**1.5, float(np.mean(centred**4)) / m2**2


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, observations: int, skew: float, kurtosis: float
) -> float | None:
    """PSR(benchmark): the probability that the true Sharpe ratio exceeds ``benchmark`` (see the
    module doc). None when T < 2 or the variance term is not positive."""
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if observations < 2 or not variance > 0:
        return None
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance))


def expected_max_sharpe(trials: int, variance: float, mean: float = 0.0) -> float | None:
    """SR0, the expected maximum Sharpe ratio of ``trials`` trials whose Sharpe ratios have this
    variance (see the module doc); None for fewer than two trials."""
    if trials < 2 or not variance >= 0:
        return None
    quantiles = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / trials) + EULER_GAMMA * (
        _NORMAL.inv_cdf(1 - 1 / (trials * math.e))
    )
    return mean + math.sqrt(variance) * quantiles


def deflated_sharpe_ratio(
    sharpe: float,
    observations: int,
    skew: float,
    kurtosis: float,
    trials: int,
    trial_variance: float,
) -> float | None:
    """DSR = PSR(SR0): the probability that the best of ``trials`` trials has a true Sharpe ratio
    above what the best of as many skill-less trials would show. None when undefined (N = 1)."""
    benchmark = expected_max_sharpe(trials, trial_variance)
    if benchmark is None:
        return None
    return probabilistic_sharpe_ratio(sharpe, benchmark, observations, skew, kurtosis)


@dataclass(frozen=True)
class SharpeStatistics:
    """The Sharpe statistics of one series (the best variant's per-part results). ``reason``
    says why a value is None."""

    sharpe: float | None
    observations: int
    skew: float | None
    kurtosis: float | None
    psr: float | None
    trials: int
    trial_variance: float | None
    expected_max_sharpe: float | None
    dsr: float | None
    reason: str | None


def sharpe_statistics(
    values: npt.ArrayLike, trials: int, trial_sharpes: Sequence[float]
) -> SharpeStatistics:
    """Sharpe, skewness, non-excess kurtosis, PSR against 0 and DSR of a series selected as the
    best of ``trials`` trials, whose Sharpe ratios (all per part) are ``trial_sharpes``."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    sharpe, shape = sharpe_ratio(array), moments(array)
    finite = [s for s in trial_sharpes if s is not None and math.isfinite(s)]
    variance = float(np.var(finite, ddof=1)) if len(finite) >= 2 else None
    empty = SharpeStatistics(
        sharpe, array.size, None, None, None, trials, variance, None, None, None
    )
    if sharpe is None or shape is None:
        why = "fewer than 2 parts" if array.size < 2 else "the same result in every part"
        return replace(empty, reason=f"no Sharpe ratio: {why}")
    skew, kurtosis = shape
    psr = probabilistic_sharpe_ratio(sharpe, 0.0, array.size, skew, kurtosis)
    reason = None
    if psr is None:
        reason = "PSR undefined: 1 - skew*SR + (kurtosis-1)/4*SR^2 <= 0"
    benchmark = expected_max_sharpe(trials, variance) if variance is not None else None
    dsr = None
    if trials < 2:
        reason = reason or "DSR undefined for one trial: nothing was selected"
    elif variance is None:
        reason = reason or "DSR undefined: fewer than 2 trial Sharpe ratios for their variance"
    elif benchmark is not None:
        dsr = probabilistic_sharpe_ratio(sharpe, benchmark, array.size, skew, kurtosis)
    return SharpeStatistics(
        sharpe, array.size, skew, kurtosis, psr, trials, variance, benchmark, dsr, reason
    )
