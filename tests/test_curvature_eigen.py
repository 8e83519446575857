"""top_eigen against numpy's eigh of the dense float64 Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.curvature import CurvatureError, HessianOperator, Spectrum, top_eigen, top_eigen_of
from test_curvature_fixtures import LOSS, dense_hessian, digits, mlp_problem, tiny_cnn

# Power iteration stops on the relative change of the eigenvalue, so its vectors lag its
# values: at tol=1e-10 the values agree to about 1e-6 and the vectors to |cos| > 1 - 1e-4.
TOLERANCES = {"lanczos": (1e-8, 1e-6), "lobpcg": (1e-8, 1e-6), "krylov": (1e-8, 1e-6), "power": (1e-6, 1e-4)}
SOLVER_TOL = {"lanczos": 1e-8, "lobpcg": 1e-8, "krylov": 1e-8, "power": 1e-10}


def _dense_eigh() -> tuple[np.ndarray, np.ndarray]:
    *_, hessian = mlp_problem()
    return np.linalg.eigh(hessian)


def _check_against_dense(spectrum: Spectrum, values: np.ndarray, vectors: np.ndarray, method: str) -> None:
    value_tol, cos_tol = TOLERANCES[method]
    rel = np.abs(spectrum.values - values) / np.abs(values)
    assert rel.max() < value_tol, f"{method}: eigenvalues {spectrum.values} vs eigh {values}, rel {rel}"
    cosines = np.abs(np.sum(spectrum.vectors * vectors, axis=0))
    assert cosines.min() > 1 - cos_tol, f"{method}: |cos| with eigh vectors {cosines}"


@pytest.mark.parametrize("method", ["lanczos", "lobpcg", "krylov", "power"])
def test_top_two_largest_match_dense_eigh(method: str) -> None:
    model, x, y, _ = mlp_problem()
    w, u = _dense_eigh()
    assert (w[-1] - w[-2]) / w[-1] > 0.05 and (w[-2] - w[-3]) / w[-1] > 0.05, "test needs an eigen-gap"
    spectrum = top_eigen(model, LOSS, (x, y), k=2, tol=SOLVER_TOL[method], method=method, max_hvps=5000)
    _check_against_dense(spectrum, w[::-1][:2], u[:, ::-1][:, :2], method)
    assert spectrum.method == method and spectrum.values[0] >= spectrum.values[1]
    assert spectrum.ratio == pytest.approx(w[-1] / w[-2], rel=TOLERANCES[method][0] * 3)
    assert np.allclose(np.linalg.norm(spectrum.vectors, axis=0), 1.0)


@pytest.mark.parametrize("method", ["lanczos", "lobpcg", "krylov", "power"])
def test_smallest_algebraic_gives_the_most_negative(method: str) -> None:
    model, x, y, _ = mlp_problem()
    w, u = _dense_eigh()
    assert w[0] < 0 and (w[1] - w[0]) / abs(w[0]) > 0.05, "test needs a separated negative eigenvalue"
    spectrum = top_eigen(model, LOSS, (x, y), k=1, tol=SOLVER_TOL[method], which="SA", method=method)
    _check_against_dense(spectrum, w[:1], u[:, :1], method)


def test_largest_magnitude_and_a_cnn() -> None:
    model = tiny_cnn()
    x, y = digits(60)
    w, u = np.linalg.eigh(dense_hessian(model, x, y))
    order = np.argsort(-np.abs(w))[:2]
    spectrum = top_eigen(model, LOSS, (x, y), k=2, tol=1e-10, which="LM")
    expected = w[order]
    sort = np.argsort(-expected)
    _check_against_dense(spectrum, expected[sort], u[:, order][:, sort], "lanczos")


@pytest.mark.parametrize("method", ["lanczos", "lobpcg", "krylov", "power"])
def test_residuals_are_small_and_equal_dense_residuals(method: str) -> None:
    model, x, y, hessian = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    spectrum = top_eigen_of(operator, k=2, tol=SOLVER_TOL[method], method=method, max_hvps=5000)
    dense = np.linalg.norm(hessian @ spectrum.vectors - spectrum.vectors * spectrum.values, axis=0)
    assert np.allclose(spectrum.residuals, dense, rtol=1e-6, atol=1e-12), f"{spectrum.residuals} vs {dense}"
    bound = 1e-6 if method != "power" else 1e-3
    assert spectrum.residuals.max() < bound * spectrum.values[0], f"{method}: residuals {spectrum.residuals}"
    assert spectrum.hvps == operator.calls and spectrum.meta["residual_hvps"] == 2


def test_lobpcg_warm_start_from_converged_vectors_uses_fewer_products() -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    cold = top_eigen_of(operator, k=2, tol=1e-8, method="lobpcg")
    warm = top_eigen_of(operator, k=2, tol=1e-8, method="lobpcg", v0=cold.vectors)
    assert warm.hvps < cold.hvps / 3, f"lobpcg: warm {warm.hvps} vs cold {cold.hvps} products"
    assert np.allclose(warm.values, cold.values, rtol=1e-8)


def test_lanczos_warm_start_is_still_correct() -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    cold = top_eigen_of(operator, k=2, tol=1e-8)
    warm = top_eigen_of(operator, k=2, tol=1e-8, v0=cold.vectors)
    assert np.allclose(warm.values, cold.values, rtol=1e-8), f"warm {warm.values} vs cold {cold.values}"


def test_float32_operator_gives_float32_accurate_values() -> None:
    model, x, y, _ = mlp_problem()
    w, _ = _dense_eigh()
    spectrum = top_eigen(model, LOSS, (x, y), k=2, tol=1e-5, dtype=torch.float32)
    rel = np.abs(spectrum.values - w[::-1][:2]) / w[-1]
    assert rel.max() < 1e-4, f"float32 lanczos relative error {rel}"


def test_bad_requests_raise_curvature_error() -> None:
    model, x, y, _ = mlp_problem()
    operator = HessianOperator(model, LOSS, (x, y))
    with pytest.raises(CurvatureError, match="within 5 products"):
        top_eigen_of(operator, k=2, tol=1e-10, max_hvps=5)
    with pytest.raises(CurvatureError, match="unknown method"):
        top_eigen_of(operator, method="arnoldi")
    with pytest.raises(CurvatureError, match="unknown which"):
        top_eigen_of(operator, which="BE")
    with pytest.raises(CurvatureError, match="k must"):
        top_eigen_of(operator, k=0)
    with pytest.raises(CurvatureError, match="rows"):
        top_eigen_of(operator, v0=np.ones(3))


def test_double_backward_mode_gives_the_same_spectrum() -> None:
    model, x, y, _ = mlp_problem()
    w, u = _dense_eigh()
    spectrum = top_eigen(model, LOSS, (x, y), k=2, tol=1e-8, mode="double-backward")
    _check_against_dense(spectrum, w[::-1][:2], u[:, ::-1][:, :2], "lanczos")
