"""Power iteration with deflation, the eigen-solver of seed 001 (Brioschi et al., 2023)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from optiscope.curvature.errors import CurvatureError

__all__ = ["power_iteration"]

MatVec = Callable[[torch.Tensor], torch.Tensor]


def _dominant(
    matvec: MatVec,
    found: torch.Tensor,
    found_values: torch.Tensor,
    v: torch.Tensor,
    tol: float,
    max_iter: int,
) -> tuple[float, torch.Tensor, int]:
    """Largest-magnitude eigenpair of ``matvec`` deflated by the pairs already ``found``."""
    value = float("nan")
    v = v / v.norm()
    for iteration in range(1, max_iter + 1):
        w = matvec(v)
        if found.shape[1]:
            # Hotelling deflation: subtract the found pairs, and re-orthogonalise against them.
            w = w - found @ (found_values * (found.T @ v))
            w = w - found @ (found.T @ w)
        new_value = float(v @ w)
        norm = w.norm()
        if norm == 0:
            return 0.0, v, iteration
        v = w / norm
        if abs(new_value - value) <= tol * abs(new_value):
            return new_value, v, iteration
        value = new_value
    raise CurvatureError(f"power iteration did not reach tol={tol} within {max_iter} products")


def power_iteration(
    matvec: MatVec, v0: torch.Tensor, k: int, tol: float, max_hvps: int
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Top-``k`` largest-magnitude eigenpairs by power iteration with Hotelling deflation.

    Each pair is iterated until the Rayleigh quotient changes by at most ``tol`` relative to its
    value; convergence is geometric with rate ``|lambda_{i+1} / lambda_i|``, which is why seed 001
    tracks the ratio of the two largest eigenvalues.

    Args:
        matvec: ``v -> H v`` on flat tensors ``(n,)``.
        v0: starting vectors ``(n, k)``.
        k: number of eigenpairs.
        tol: relative tolerance on the change of the eigenvalue between iterations.
        max_hvps: total budget of products over all ``k`` pairs.

    Returns:
        ``(values (k,), vectors (n, k), iterations per pair)`` in the order found.

    Raises:
        CurvatureError: the budget ran out before convergence.
    """
    found = v0.new_zeros((v0.shape[0], 0))
    values = v0.new_zeros(0)
    iterations: list[int] = []
    for i in range(k):
        budget = max_hvps - sum(iterations)
        value, vector, used = _dominant(matvec, found, values, v0[:, i], tol, budget)
        found = torch.cat([found, vector[:, None]], dim=1)
        values = torch.cat([values, values.new_tensor([value])])
        iterations.append(used)
    return values, found, iterations
