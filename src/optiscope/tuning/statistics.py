"""How sure are we: confidence intervals, success rates, spread, ties, performance profiles.

* :func:`bootstrap_mean_ci`: the percentile bootstrap interval of a mean (Efron & Tibshirani,
  *An Introduction to the Bootstrap*, 1993, ch. 13), seeded, vectorised over resamples.
* :func:`wilson_interval`: the Wilson score interval of a success rate (Wilson, 1927); unlike
  the normal approximation it stays inside [0, 1] and is sensible at 0 or n successes.
* :func:`tie_groups`: optimizers whose intervals overlap cannot be told apart at that level.
* :func:`performance_profile`: Dolan & More (2002), *Benchmarking optimization software with
  performance profiles*: for each solver, the fraction of problems it solves within a factor
  ``tau`` of the best solver on that problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "Spread",
    "bootstrap_mean_ci",
    "performance_profile",
    "performance_ratios",
    "spread",
    "tie_groups",
    "wilson_interval",
]


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap confidence interval of the mean of ``values``.

    ``resamples`` samples of ``len(values)`` values drawn with replacement; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of their means (linear
    interpolation between order statistics, as :func:`numpy.quantile` and scipy do).

    Raises:
        ValueError: no values, a non-finite value, or a confidence outside (0, 1).
    """
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.size == 0 or not np.isfinite(data).all():
        raise ValueError(f"the bootstrap needs finite values, got {data.size} values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success rate ``successes / trials``.

    With ``z`` the normal quantile of ``(1 + confidence) / 2`` and ``p = successes / trials``::

        centre = (p + z^2 / (2n)) / (1 + z^2 / n)
        half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

    Raises:
        ValueError: ``trials < 1`` or ``successes`` outside ``[0, trials]``.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    n, p = float(trials), successes / trials
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 (or n) successes the bound is exactly 0 (or 1): centre and half are then equal.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Spread:
    """How far the values of one configuration's runs are apart."""

    std: float
    minimum: float
    maximum: float
    iqr: float


def spread(values: Sequence[float] | np.ndarray) -> Spread:
    """Sample standard deviation (``ddof=1``; 0 for one value), range and interquartile range."""
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    q1, q3 = np.quantile(data, [0.25, 0.75])
    std = float(data.std(ddof=1)) if data.size > 1 else 0.0
    return Spread(std=std, minimum=float(data.min()), maximum=float(data.max()), iqr=float(q3 - q1))


def tie_groups(intervals: Sequence[tuple[float, float]]) -> list[list[int]]:
    """For each interval, the indices of the others it overlaps (cannot be told apart from).

    Two closed intervals ``[a, b]`` and ``[c, d]`` overlap when ``a <= d`` and ``c <= b``.
    """
    return [
        [j for j, (c, d) in enumerate(intervals) if j != i and a <= d and c <= b]
        for i, (a, b) in enumerate(intervals)
    ]


def performance_ratios(costs: np.ndarray, *, floor: float = 0.0) -> np.ndarray:
    """Dolan-More ratios ``r[p, s] = t[p, s] / min_s t[p, s]`` of ``costs`` ``(problems, solvers)``.

    A cost that is NaN or infinite is a failure: its ratio is ``inf``. Costs are raised to at
    least ``floor`` first, so that problems where the best cost is 0 (a gap that closed exactly)
    count every solver at or below ``floor`` as best; with ``floor = 0`` a best cost of 0 makes
    the other ratios infinite. A problem no solver solves gives ``inf`` for all.
    """
    data = np.asarray(costs, dtype=np.float64)
    failed = ~np.isfinite(data)
    data = np.where(failed, np.inf, np.maximum(data, floor))
    best = data.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(best == data, 1.0, data / best)
    return np.where(failed | ~np.isfinite(best), np.inf, ratios)


def performance_profile(
    costs: np.ndarray, taus: Sequence[float] | np.ndarray, *, floor: float = 0.0
) -> np.ndarray:
    """``rho[s, k]``: the fraction of problems solver ``s`` solves within ``taus[k]`` times the best.

    Args:
        costs: ``(problems, solvers)``, lower is better, NaN/inf for a failure.
        taus: the factors, each >= 1.
        floor: see :func:`performance_ratios`.

    Returns:
        ``(solvers, len(taus))`` fractions in [0, 1], non-decreasing in ``tau``.
    """
    ratios = performance_ratios(costs, floor=floor)
    factors = np.asarray(taus, dtype=np.float64)
    return (ratios[:, :, None] <= factors[None, None, :]).mean(axis=0)
