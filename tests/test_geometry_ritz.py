"""The ``ritz`` solver: ``tol`` is the relative eigenvalue error delivered (dense eigh as the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.curvature import CurvatureError, HessianOperator, top_eigen_of
from optiscope.curvature.ritz import error_bounds, ritz_lanczos
from test_curvature_fixtures import LOSS, Quadratic, mean_output, mlp_problem, quadratic_data, spiked_matrix

TOLS = (1e-2, 1e-4, 1e-6, 1e-8)


def _truth(hessian: np.ndarray, which: str, k: int) -> np.ndarray:
    w = np.linalg.eigvalsh(hessian)
    if which == "LA":
        return w[::-1][:k]
    if which == "SA":
        return np.sort(w[:k])[::-1]
    return np.sort(w[np.argsort(-np.abs(w))[:k]])[::-1]


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_delivered_relative_error_is_within_tol(which: str) -> None:
    model, x, y, hessian = mlp_problem()
    truth = _truth(hessian, which, 2)
    for tol in TOLS:
        spectrum = top_eigen_of(
            HessianOperator(model, LOSS, (x, y)), k=2, tol=tol, which=which, method="ritz"
        )
        error = np.abs(spectrum.values - truth) / np.abs(truth)
        assert error.max() <= tol, (
            f"{which} tol={tol}: values {spectrum.values} vs eigh {truth}, error {error}"
        )
        bounds = np.array(spectrum.meta["error_bounds"])
        assert np.all(np.abs(spectrum.values - truth) <= bounds * (1 + 1e-6) + 1e-14), f"bounds {bounds}"


def test_fewer_products_than_arpack_at_the_same_tol() -> None:
    model, x, y, _ = mlp_problem()
    for tol in (1e-2, 1e-4, 1e-8):
        ours = top_eigen_of(HessianOperator(model, LOSS, (x, y)), k=2, tol=tol, method="ritz")
        arpack = top_eigen_of(HessianOperator(model, LOSS, (x, y)), k=2, tol=tol, method="lanczos")
        assert ours.hvps < arpack.hvps, f"tol={tol}: ritz {ours.hvps} products vs ARPACK {arpack.hvps}"
        assert ours.meta["residual_hvps"] == 0


def test_recurrence_residuals_equal_dense_residuals() -> None:
    model, x, y, hessian = mlp_problem()
    spectrum = top_eigen_of(HessianOperator(model, LOSS, (x, y)), k=3, tol=1e-6, method="ritz")
    dense = np.linalg.norm(hessian @ spectrum.vectors - spectrum.vectors * spectrum.values, axis=0)
    np.testing.assert_allclose(spectrum.residuals, dense, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(spectrum.vectors.T @ spectrum.vectors, np.eye(3), atol=1e-10)


def test_an_invariant_start_space_is_left_for_the_rest() -> None:
    matrix, eigenvalues = spiked_matrix(30, (9.0, 7.0, 5.0), seed=2)
    model = Quadratic(matrix)
    operator = HessianOperator(model, mean_output, quadratic_data())
    top = np.linalg.eigh(matrix.numpy())[1][:, -1]
    spectrum = top_eigen_of(operator, k=2, tol=1e-10, method="ritz", v0=top)  # one eigenvector as start
    np.testing.assert_allclose(spectrum.values, eigenvalues[::-1][:2], rtol=1e-10)


def test_budget_and_bounds() -> None:
    matrix, _ = spiked_matrix(40, (9.0, 8.9), seed=3)
    with pytest.raises(CurvatureError, match="within 4 products"):
        ritz_lanczos(lambda v: matrix @ v, torch.ones(40, dtype=torch.float64), 2, 1e-12, 4)
    # Kato-Temple: r^2 / gap where the neighbour's own residual is taken off the gap.
    bounds = error_bounds(np.array([10.0, 6.0, 1.0]), np.array([0.1, 1.0, 0.0]), np.array([0]))
    assert bounds[0] == pytest.approx(0.1**2 / 3.0)
    bounds = error_bounds(np.array([10.0, 9.5]), np.array([0.1, 1.0]), np.array([0]))
    assert bounds[0] == pytest.approx(0.1), "no positive gap: only the residual bounds the error"
