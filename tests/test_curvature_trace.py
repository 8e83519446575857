"""Rademacher probes and the Hutchinson / Hutch++ trace estimators, tested statistically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.curvature import (
    CurvatureError,
    HessianOperator,
    hutch_plus_plus,
    hutchinson,
    rademacher,
    trace,
)
from test_curvature_fixtures import LOSS, Quadratic, mean_output, mlp_problem, quadratic_data, spiked_matrix


def test_rademacher_is_exactly_plus_or_minus_one_with_mean_zero() -> None:
    draws = rademacher((200, 50), torch.Generator().manual_seed(0))
    values, counts = torch.unique(draws, return_counts=True)
    assert values.tolist() == [-1.0, 1.0], f"values {values.tolist()}: both signs must occur, nothing else"
    mean = draws.mean().item()
    # Mean of 10,000 fair signs has standard deviation 0.01.
    assert abs(mean) < 0.04, f"Rademacher mean {mean:.4f} is more than 4 standard deviations from 0"
    assert draws.dtype == torch.float64 and counts.min() > 4500
    same = rademacher((200, 50), torch.Generator().manual_seed(0))
    assert torch.equal(draws, same), "same seed must give the same probes"
    assert rademacher(7, torch.Generator().manual_seed(1), dtype=torch.float32).shape == (7,)


def test_the_old_randint_upper_bound_bug_would_be_caught() -> None:
    buggy = torch.randint_like(torch.zeros(1000), 0, 1) * 2 - 1
    assert torch.unique(buggy).tolist() == [-1.0], "randint(0, 1) is always 0: this is the bug we avoid"


def _quadratic_operator(n: int = 120, spikes: tuple[float, ...] = (200.0, 120.0, 80.0)) -> tuple:
    matrix, eigenvalues = spiked_matrix(n, spikes)
    return HessianOperator(Quadratic(matrix), mean_output, quadratic_data()), float(eigenvalues.sum())


def test_hutchinson_is_unbiased_on_a_network_hessian() -> None:
    model, x, y, hessian = mlp_problem()
    truth = float(np.trace(hessian))
    estimates = [trace(model, LOSS, (x, y), samples=20, seed=seed) for seed in range(12)]
    mean = np.mean([e.value for e in estimates])
    stderr = np.std([e.value for e in estimates], ddof=1) / np.sqrt(len(estimates))
    assert abs(mean - truth) < 4 * stderr, (
        f"Hutchinson mean {mean:.4f} vs dense trace {truth:.4f} (se {stderr:.4f})"
    )
    single = estimates[0]
    assert single.samples == single.hvps == 20
    assert abs(single.value - truth) < 5 * single.stderr, "a single estimate is far outside its stderr"


@pytest.mark.parametrize("estimator", [hutchinson, hutch_plus_plus])
def test_estimators_are_unbiased_on_a_known_matrix(estimator) -> None:
    operator, truth = _quadratic_operator()
    estimates = [estimator(operator, 30, seed=seed) for seed in range(30)]
    values = np.array([e.value for e in estimates])
    stderr = values.std(ddof=1) / np.sqrt(len(values))
    name = estimator.__name__
    assert abs(values.mean() - truth) < 4 * stderr, f"{name}: {values.mean():.3f} vs {truth:.3f}"
    reported = np.mean([e.stderr for e in estimates])
    spread = values.std(ddof=1)
    assert 0.5 < reported / spread < 2.0, f"{name}: stderr {reported:.3f} vs spread {spread:.3f}"


def test_hutch_plus_plus_beats_hutchinson_at_equal_products_with_dominant_eigenvalues() -> None:
    operator, truth = _quadratic_operator()
    budget = 30
    errors = {}
    for estimator in (hutchinson, hutch_plus_plus):
        estimates = [estimator(operator, budget, seed=seed) for seed in range(20)]
        assert all(e.hvps == budget for e in estimates)
        errors[estimator.__name__] = float(np.sqrt(np.mean([(e.value - truth) ** 2 for e in estimates])))
    assert errors["hutch_plus_plus"] < 0.5 * errors["hutchinson"], f"RMS errors at {budget} HVPs: {errors}"


def test_hutch_plus_plus_budget_split_and_bad_requests() -> None:
    operator, _ = _quadratic_operator(n=30)
    estimate = hutch_plus_plus(operator, 31, seed=0)
    assert (estimate.hvps, estimate.samples) == (31, 11), "split: 10 sketch, 10 exact, 11 residual"
    with pytest.raises(CurvatureError, match="at least 4"):
        hutch_plus_plus(operator, 3)
    with pytest.raises(CurvatureError, match="at least 2"):
        hutchinson(operator, 1)
    with pytest.raises(CurvatureError, match="unknown trace method"):
        trace(Quadratic(torch.eye(3, dtype=torch.float64)), mean_output, quadratic_data(), method="xtrace")
