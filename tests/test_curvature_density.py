"""Stochastic Lanczos quadrature density: normalisation, mean, exact nodes, figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from optiscope.curvature import CurvatureError, HessianOperator, density, density_of
from optiscope.viz.curvature_figures import density_figure
from test_curvature_fixtures import LOSS, Quadratic, mean_output, mlp_problem, quadratic_data, spiked_matrix


def test_density_integrates_to_one_and_weights_sum_to_one() -> None:
    model, x, y, _ = mlp_problem()
    result = density(model, LOSS, (x, y), steps=30, probes=2, grid_points=800)
    integral = np.trapezoid(result.density, result.grid)
    assert abs(integral - 1.0) < 1e-3, f"density integrates to {integral:.6f}"
    assert result.nodes.shape == result.weights.shape == (2, 30)
    assert np.allclose(result.weights.sum(axis=1), 1.0, atol=1e-12)
    assert result.hvps == 60 and result.grid.shape == result.density.shape == (800,)
    assert np.all(result.density >= 0)


def test_density_mean_matches_trace_over_n() -> None:
    matrix, eigenvalues = spiked_matrix(100, (40.0, 25.0))
    operator = HessianOperator(Quadratic(matrix), mean_output, quadratic_data())
    means = [density_of(operator, steps=15, probes=4, seed=seed).mean for seed in range(10)]
    truth = eigenvalues.mean()
    stderr = np.std(means, ddof=1) / np.sqrt(len(means))
    mean = np.mean(means)
    assert abs(mean - truth) < 4 * stderr + 1e-12, f"SLQ mean {mean:.5f} vs tr/n {truth:.5f}"


def test_full_lanczos_nodes_are_the_exact_eigenvalues() -> None:
    n = 40
    matrix, eigenvalues = spiked_matrix(n, (30.0, 20.0, 10.0), seed=3)
    operator = HessianOperator(Quadratic(matrix), mean_output, quadratic_data())
    result = density_of(operator, steps=n, probes=1)
    # Full reorthogonalisation keeps the basis orthogonal, so n steps recover every eigenvalue.
    error = np.abs(np.sort(result.nodes[0]) - eigenvalues).max()
    assert error < 1e-8, f"Ritz values after n steps vs eigenvalues: max error {error:.2e}"
    mean_exact = float(np.sum(result.weights[0] * result.nodes[0]))
    generator = torch.Generator().manual_seed(0)
    probe = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).double()
    quadratic_form = float(probe @ matrix @ probe) / n
    assert abs(mean_exact - quadratic_form) < 1e-10, "Gauss quadrature must reproduce v^T H v exactly"


def test_density_figure_uses_a_log_scale() -> None:
    model, x, y, _ = mlp_problem()
    figure = density_figure(density(model, LOSS, (x, y), steps=10, probes=1))
    assert isinstance(figure, Figure)
    axes = figure.axes[0]
    assert axes.get_yscale() == "log" and axes.get_xlabel() == "eigenvalue"


def test_bad_density_requests_raise() -> None:
    operator = HessianOperator(Quadratic(torch.eye(5, dtype=torch.float64)), mean_output, quadratic_data())
    with pytest.raises(CurvatureError, match="steps"):
        density_of(operator, steps=6)
    with pytest.raises(CurvatureError, match="sigma"):
        density_of(operator, steps=3, sigma=-1.0)
