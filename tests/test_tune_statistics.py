"""The statistics against independent references: scipy, an exact enumeration, hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from optiscope.paths import RUN_STATUSES
from optiscope.tuning import (
    bootstrap_mean_ci,
    gap_curves,
    performance_profile,
    performance_ratios,
    score,
    spread,
    tie_groups,
    wilson_interval,
)


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (3, 10), (10, 10), (1, 1), (47, 200)])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_wilson_interval_matches_scipy(successes: int, trials: int, confidence: float) -> None:
    reference = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson_interval(successes, trials, confidence=confidence)
    assert low == pytest.approx(reference.low, abs=1e-12), (low, reference.low)
    assert high == pytest.approx(reference.high, abs=1e-12), (high, reference.high)


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution() -> None:
    """For n = 4 every resample (4^4 equally likely index tuples) can be listed: the exact percentile
    interval of the bootstrap mean is the quantile of that finite distribution."""
    values = np.array([0.3, 1.1, 2.0, 7.5])
    means = np.sort([values[list(index)].mean() for index in itertools.product(range(4), repeat=4)])
    exact_low, exact_high = np.quantile(means, [0.025, 0.975])
    low, high = bootstrap_mean_ci(values, resamples=200_000, seed=3)
    # Monte Carlo error of a 2.5% quantile with 200k draws, here well under 2% of the sample's range.
    assert abs(low - exact_low) < 0.02 * np.ptp(values), (low, exact_low)
    assert abs(high - exact_high) < 0.02 * np.ptp(values), (high, exact_high)


def test_bootstrap_interval_matches_scipy_percentile_bootstrap() -> None:
    values = np.random.default_rng(5).lognormal(size=15)
    reference = stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=50_000, random_state=1
    ).confidence_interval
    low, high = bootstrap_mean_ci(values, resamples=50_000, seed=2)
    tolerance = 0.03 * values.std()
    assert abs(low - reference.low) < tolerance and abs(high - reference.high) < tolerance, (
        (low, high),
        (reference.low, reference.high),
    )


def test_bootstrap_of_equal_values_is_a_point_and_bad_input_is_refused() -> None:
    assert bootstrap_mean_ci([2.0] * 10) == (2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_mean_ci([1.0, math.inf])


def test_spread_and_ties() -> None:
    found = spread([1.0, 2.0, 3.0, 4.0])
    assert found.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1)) and found.iqr == pytest.approx(1.5)
    assert tie_groups([(0.0, 1.0), (0.9, 2.0), (2.5, 3.0)]) == [[1], [0], []]


def test_performance_profile_of_a_hand_computed_case() -> None:
    """Three problems, two solvers. Costs (rows: problems): [1, 2], [4, 2], [3, inf].
    Ratios: [1, 2], [2, 1], [1, inf]. Solver 0 is within tau=1 on 2 of 3 problems, within 2 on
    all 3; solver 1 within 1 on 1 of 3, within 2 on 2 of 3, and never on the third."""
    costs = np.array([[1.0, 2.0], [4.0, 2.0], [3.0, math.inf]])
    np.testing.assert_array_equal(performance_ratios(costs), [[1, 2], [2, 1], [1, math.inf]])
    profile = performance_profile(costs, [1.0, 1.5, 2.0, 100.0])
    np.testing.assert_allclose(profile, [[2 / 3, 2 / 3, 1, 1], [1 / 3, 1 / 3, 2 / 3, 2 / 3]])


def test_profile_floor_makes_every_cost_below_it_a_best() -> None:
    costs = np.array([[0.0, 1e-9, 0.5]])
    np.testing.assert_array_equal(performance_ratios(costs), [[1, math.inf, math.inf]])
    np.testing.assert_allclose(performance_ratios(costs, floor=1e-3), [[1, 1, 500]])


def test_gap_curves_carry_stopped_runs_to_the_budget() -> None:
    """Row 0 converged at step 2 (keeps its last gap); row 1 diverged at step 1 (counts as its start
    gap from there); row 2 ran the whole budget."""
    nan = math.nan
    losses = np.array([[5.0, 3.0, 2.0, nan], [5.0, 1e9, nan, nan], [4.0, 3.0, 2.0, 1.0]])
    status = np.array([RUN_STATUSES.index(name) for name in ("converged", "diverged", "max_steps")])
    gaps = gap_curves(losses, np.array([2, 1, 3]), status, minimum=1.0)
    np.testing.assert_array_equal(gaps, [[4, 2, 1, 1], [4, 4, 4, 4], [3, 2, 1, 0]])
    np.testing.assert_array_equal(score("final", gaps, 0.5), [1, 4, 0])
    np.testing.assert_allclose(score("auc", gaps, 0.5), [2.0, 4.0, 1.5])
    # Only row 2 reaches a gap <= 0.5 (at step 3); the others score budget + 1 + g / (g + g0).
    np.testing.assert_allclose(score("target", gaps, 0.5), [4 + 1 / 5, 4 + 4 / 8, 3])
