"""Li et al.'s convexity map: ``|lambda_min / lambda_max|`` of the Hessian over a landscape plane.

Li, Xu, Taylor, Studer and Goldstein (2018, sec. 6) colour each point of a plane by the ratio of
the Hessian's most negative to its largest eigenvalue: near 0 the loss is locally convex (to the
eye of a 2-D slice, whose apparent convexity is then trustworthy), large where the slice hides
strong negative curvature. Each grid point costs two extreme eigenvalue solves
(:func:`~optiscope.curvature.top_eigen_of`, ``ritz``); the grid is walked row by row, every
other row reversed, so each point is warm-started from the eigenvectors of its neighbour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from optiscope.curvature import HessianOperator, top_eigen_of
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.joint_plane import model_at

__all__ = ["ConvexityMap", "convexity_map", "snake_order"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ConvexityMap:
    """Extreme Hessian eigenvalues on a ``(n_alpha, n_beta)`` grid.

    Attributes:
        alphas: ``(n_alpha,)`` and betas ``(n_beta,)``: the axes.
        lambda_max: largest algebraic eigenvalue at each point.
        lambda_min: smallest algebraic eigenvalue at each point.
        products: Hessian-vector products spent at each point (both solves).
    """

    alphas: np.ndarray
    betas: np.ndarray
    lambda_max: np.ndarray
    lambda_min: np.ndarray
    products: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        """``|lambda_min / lambda_max|`` at each point (NaN where ``lambda_max`` is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.lambda_max != 0, np.abs(self.lambda_min / self.lambda_max), np.nan)


def snake_order(n_alpha: int, n_beta: int) -> list[tuple[int, int]]:
    """Grid indices row by row, every other row reversed: each point follows a neighbour."""
    return [(i, j if i % 2 == 0 else n_beta - 1 - j) for i in range(n_alpha) for j in range(n_beta)]


def convexity_map(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[torch.Tensor, torch.Tensor],
    directions: Directions,
    alphas: np.ndarray,
    betas: np.ndarray,
    *,
    tol: float = 1e-3,
    dtype: torch.dtype | None = None,
    warm: bool = True,
) -> ConvexityMap:
    """``lambda_max`` and ``lambda_min`` of the Hessian at ``theta + alpha d_1 + beta d_2`` on a grid.

    Args:
        model: the network at the plane's centre (left untouched).
        loss_fn: ``loss_fn(logits, y)`` returning the batch mean.
        data: ``(x, y)`` the Hessian is of.
        directions: two directions of the model's layout.
        alphas: ``(n_alpha,)`` coordinates along ``d_1``; betas ``(n_beta,)`` along ``d_2``.
        tol: relative eigenvalue error of each solve.
        dtype: dtype of the products (default: the model's).
        warm: start each solve from the neighbour's eigenvector (else from a seeded random one).

    Raises:
        LandscapeError: the directions are not a plane of the model's layout.
    """
    if directions.dims != 2:
        raise LandscapeError("a convexity map needs a plane: two directions")
    directions.check_model(model)
    centre = torch.nn.utils.parameters_to_vector(model.parameters()).detach().double().cpu()
    plane = directions.matrix().double()
    shape = (len(alphas), len(betas))
    lambda_max, lambda_min, products = np.empty(shape), np.empty(shape), np.zeros(shape, dtype=np.int64)
    starts: dict[str, np.ndarray | None] = {"LA": None, "SA": None}
    for i, j in snake_order(*shape):
        point = centre + float(alphas[i]) * plane[0] + float(betas[j]) * plane[1]
        operator = HessianOperator(model_at(model, point), loss_fn, data, dtype=dtype)
        for which, store in (("LA", lambda_max), ("SA", lambda_min)):
            spectrum = top_eigen_of(operator, k=1, tol=tol, which=which, method="ritz", v0=starts[which])
            store[i, j] = spectrum.values[0]
            products[i, j] += spectrum.hvps
            if warm:
                starts[which] = spectrum.vectors[:, 0]
    return ConvexityMap(np.asarray(alphas), np.asarray(betas), lambda_max, lambda_min, products)
