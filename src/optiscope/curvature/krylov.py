"""Block Krylov (Davidson-type) eigen-solver that starts from given vectors.

The search space starts as the span of the start block ``V``; each iteration Rayleigh-Ritz
extracts the wanted ``k`` Ritz pairs and expands the space with the residuals of the pairs not
yet converged, orthogonalised against it. With no preconditioner this is the block Lanczos /
Davidson method (Davidson 1975; Saad, "Numerical Methods for Large Eigenvalue Problems", 2nd ed.,
2011, ch. 6 and 8): the space after ``j`` expansions is the block Krylov space
``K_j(H, V)``, so a start block near the wanted eigenvectors converges in a few products per
vector. This is the tracker's warm step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from optiscope.curvature.errors import CurvatureError

__all__ = ["block_krylov"]

MatMat = Callable[[torch.Tensor], torch.Tensor]


def _orthonormal_extension(basis: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Columns of ``block`` orthogonalised (twice) against ``basis`` and each other; tiny ones dropped."""
    size = float(block.norm(dim=0).max()) if block.numel() else 0.0
    for _ in range(2):
        block = block - basis @ (basis.T @ block)
    q, r = torch.linalg.qr(block)
    keep = r.diagonal().abs() > 1e-10 * size
    return q[:, keep]


def block_krylov(
    matmat: MatMat,
    start: torch.Tensor,
    k: int,
    tol: float,
    max_hvps: int,
    largest: bool = True,
    scale: float | None = None,
    max_basis: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Top-``k`` (or bottom-``k``) eigenpairs by Rayleigh-Ritz on a growing block Krylov space.

    Args:
        matmat: ``V -> H V`` on ``(n, m)`` blocks.
        start: start block ``(n, j)``, ``j >= k``, e.g. the previous step's eigenvectors.
        k: number of eigenpairs.
        tol: converged when ``||H x - theta x|| <= tol * scale`` for each wanted pair.
        max_hvps: budget of products.
        largest: largest (``True``) or smallest algebraic eigenvalues.
        scale: eigenvalue magnitude for the tolerance (default: the largest ``|theta|``).
        max_basis: basis size at which the space restarts from the current Ritz vectors
            (default ``max(20, 4 k)``).

    Returns:
        ``(values (k,), vectors (n, k), products used)``.

    Raises:
        CurvatureError: no convergence within ``max_hvps`` products.
    """
    max_basis = max(20, 4 * k) if max_basis is None else max_basis
    basis = _orthonormal_extension(start.new_zeros((start.shape[0], 0)), start)
    products = matmat(basis)
    used = basis.shape[1]
    while True:
        ritz_values, ritz_vectors = torch.linalg.eigh(basis.T @ products)
        order = torch.argsort(ritz_values, descending=largest)[:k]
        theta, y = ritz_values[order], ritz_vectors[:, order]
        x, hx = basis @ y, products @ y
        residuals = hx - x * theta
        norms = residuals.norm(dim=0)
        threshold = tol * (float(theta.abs().max()) if scale is None else scale)
        open_pairs = norms > threshold
        if not bool(open_pairs.any()):
            return theta, x, used
        if basis.shape[1] + int(open_pairs.sum()) > max_basis:
            basis, products = x, hx  # restart on the current Ritz vectors (no products needed)
        extension = _orthonormal_extension(basis, residuals[:, open_pairs])
        if extension.shape[1] == 0 or used + extension.shape[1] > max_hvps:
            raise CurvatureError(f"block Krylov did not reach tol={tol} within {max_hvps} products")
        basis = torch.cat([basis, extension], dim=1)
        products = torch.cat([products, matmat(extension)], dim=1)
        used += extension.shape[1]
