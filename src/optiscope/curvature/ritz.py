"""Lanczos stopped when the eigenvalues are as accurate as asked: ``tol`` is the error delivered.

ARPACK's ``tol`` bounds residual norms and its first check comes after a whole basis of ``ncv``
vectors, so products are spent on accuracy nobody asked for. Here the Lanczos recurrence with
full reorthogonalisation (classical Gram-Schmidt, repeated where it cancelled) is checked after
every product: the tridiagonal ``T_j`` gives Ritz pairs ``(theta_i, Q s_i)`` whose residual norms are
``r_i = beta_j |e_j^T s_i|`` at no cost, and the error of ``theta_i`` is bounded by

    |lambda - theta_i| <= min(r_i, r_i^2 / gap_i)

(the residual bound and the Kato-Temple inequality: Parlett, "The Symmetric Eigenvalue
Problem", 1998; Saad, "Numerical Methods for Large Eigenvalue Problems", 2011). ``r_i`` alone is
rigorous; the quadratic bound needs the gap from ``theta_i`` to the rest of the spectrum, which
is estimated from the other Ritz values, each moved towards ``theta_i`` by its own residual
(the unseen spectrum beyond the Ritz values' span is assumed no closer). The solve stops as soon
as every wanted ``theta_i`` has ``bound_i <= tol |theta_i|``.

The bounds hold for the operator as computed: in float32 the products' own rounding moves the
eigenvalues by about 1e-6 relative, so ask a float64 operator for tighter tolerances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from optiscope.curvature.errors import CurvatureError

__all__ = ["RitzResult", "ritz_lanczos"]

MatVec = Callable[[torch.Tensor], torch.Tensor]
_BREAKDOWN = 1e-12  # beta below this times ||T|| estimate: the Krylov space is invariant
_REORTHOGONALISE = 2**-0.5  # a second Gram-Schmidt pass when the first kept less than this share


@dataclass(frozen=True)
class RitzResult:
    """The wanted Ritz pairs and how good they are.

    Attributes:
        values: ``(k,)`` Ritz values in the order asked for (largest first for ``"LA"``).
        vectors: ``(n, k)`` unit Ritz vectors.
        residuals: ``(k,)`` ``||H x - theta x||`` from the recurrence.
        bounds: ``(k,)`` the error bounds ``min(r, r^2 / gap)`` the stop was decided on.
        products: operator products used.
        restarts: explicit restarts taken (the basis reached ``max_basis``).
    """

    values: np.ndarray
    vectors: torch.Tensor
    residuals: np.ndarray
    bounds: np.ndarray
    products: int
    restarts: int


def _wanted(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    if which == "LA":
        return np.argsort(-theta)[:k]
    if which == "SA":
        return np.argsort(theta)[:k]
    return np.argsort(-np.abs(theta))[:k]


def _orthogonalised(w: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``w`` made orthogonal to the rows of ``basis`` and its norm: classical Gram-Schmidt, with a
    second pass only where the first cancelled most of ``w`` (Daniel, Gragg, Kaufman and Stewart,
    1976: a norm below ``1/sqrt(2)`` of the one before)."""
    before = float(w.norm())
    w = w - basis.T @ (basis @ w)
    after = float(w.norm())
    if after < _REORTHOGONALISE * before:
        w = w - basis.T @ (basis @ w)
        after = float(w.norm())
    return w, after


def error_bounds(theta: np.ndarray, residuals: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``min(r_i, r_i^2 / gap_i)`` for each wanted Ritz value (see the module docstring)."""
    bounds = residuals[wanted].copy()
    for slot, i in enumerate(wanted):
        others = np.delete(np.arange(len(theta)), i)
        if len(others) == 0:
            continue
        gap = float(np.min(np.abs(theta[others] - theta[i]) - residuals[others]))
        if gap > 0:
            bounds[slot] = min(bounds[slot], residuals[i] ** 2 / gap)
    return bounds


def ritz_lanczos(
    matvec: MatVec,
    start: torch.Tensor,
    k: int,
    tol: float,
    max_products: int,
    which: str = "LA",
    max_basis: int = 200,
) -> RitzResult:
    """Extreme eigenpairs of a symmetric operator to relative eigenvalue error ``tol``.

    Args:
        matvec: ``v -> H v`` on flat tensors ``(n,)``.
        start: the start vector ``(n,)`` (need not be normalised).
        k: number of eigenpairs.
        tol: wanted relative eigenvalue error: the solve stops when each wanted Ritz value's
            error bound is at most ``tol |theta|``.
        max_products: budget of products.
        which: ``"LA"`` largest algebraic, ``"SA"`` smallest, ``"LM"`` largest magnitude.
        max_basis: basis size at which Lanczos restarts from the sum of the wanted Ritz vectors
            (memory: at most ``n * max_basis`` numbers; the basis is grown as it fills).

    Raises:
        CurvatureError: no convergence within ``max_products``, or a zero start vector.
    """
    n = start.shape[0]
    max_basis = max(min(max_basis, n), k + 1)
    basis = start.new_empty((min(max_basis, 2 * k + 8), n))  # rows; grows by doubling, up to max_basis
    q = start / start.norm()
    if not bool(torch.isfinite(q).all()):
        raise CurvatureError("the Lanczos start vector is zero or not finite")
    products = restarts = 0
    while True:
        alphas: list[float] = []
        betas: list[float] = []
        j = 0
        while True:
            if j == basis.shape[0]:
                basis = torch.cat([basis, basis.new_empty((min(j, max_basis - j), n))])
            basis[j] = q
            w = matvec(q)
            products += 1
            alpha = float(q @ w)
            w = w - alpha * q - (betas[-1] * basis[j - 1] if j else 0.0)
            active = basis[: j + 1]
            w, beta = _orthogonalised(w, active)
            alphas.append(alpha)
            theta, s = eigh_tridiagonal(np.array(alphas), np.array(betas))
            residuals = beta * np.abs(s[-1, :])
            wanted = _wanted(theta, k, which)
            scale = max(float(np.max(np.abs(theta))), np.finfo(np.float64).tiny)
            invariant = beta <= _BREAKDOWN * scale
            bounds = error_bounds(theta, residuals, wanted)
            done = len(theta) >= k and bool(np.all(bounds <= tol * np.abs(theta[wanted])))
            if done:
                ritz = torch.from_numpy(s[:, wanted]).to(basis)
                vectors = active.T @ ritz
                return RitzResult(theta[wanted], vectors, residuals[wanted], bounds, products, restarts)
            if products >= max_products:
                raise CurvatureError(f"ritz did not reach tol={tol} within {max_products} products")
            if j + 1 == max_basis:
                break
            if invariant:  # the space is invariant but holds fewer than k pairs: go on elsewhere
                beta = 0.0
                w = torch.randn(n, generator=torch.Generator().manual_seed(j), dtype=torch.float64).to(basis)
                w, _ = _orthogonalised(w, active)
            betas.append(beta)
            q = w / w.norm()
            j += 1
        # Explicit restart from the sum of the wanted Ritz vectors.
        restarts += 1
        combined = active.T @ torch.from_numpy(s[:, wanted].sum(axis=1)).to(basis)
        q = combined / combined.norm()
