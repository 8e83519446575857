"""Spectral density of a Hessian by stochastic Lanczos quadrature.

Each normalised Rademacher probe ``v`` runs ``steps`` Lanczos iterations with full
reorthogonalisation; the eigenvalues ``theta_j`` of the tridiagonal matrix are Gauss quadrature
nodes and the squared first components ``tau_j`` of its eigenvectors their weights, so
``v^T f(H) v ~ sum_j tau_j f(theta_j)``. Averaging over probes and broadening each node with a
Gaussian of width ``sigma`` gives the density (Lin, Saad and Yang 2016, "Approximating spectral
densities of large matrices"; Ghorbani, Krishnan and Xiao 2019, "An investigation into neural
net optimization via Hessian eigenvalue density").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import Data, HessianOperator, LossFn
from optiscope.curvature.probes import rademacher

__all__ = ["SpectralDensity", "density", "density_of", "lanczos_tridiagonal"]


@dataclass(frozen=True)
class SpectralDensity:
    """A smoothed eigenvalue density and the quadrature rules it came from.

    Attributes:
        grid: eigenvalue grid ``(m,)``, ascending.
        density: density on the grid ``(m,)``, integrating to about 1.
        nodes: quadrature nodes ``(probes, steps)`` (Ritz values; padded rows have weight 0).
        weights: quadrature weights ``(probes, steps)``; each row sums to 1.
        sigma: Gaussian broadening width.
        hvps: Hessian-vector products used.
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    hvps: int

    @property
    def mean(self) -> float:
        """Mean eigenvalue of the quadrature, an estimate of ``tr(H) / n``."""
        return float(np.sum(self.weights * self.nodes) / self.nodes.shape[0])

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The density as a store unit (or file): arrays and JSON meta."""
        arrays = {"grid": self.grid, "density": self.density, "nodes": self.nodes, "weights": self.weights}
        return arrays, {"sigma": float(self.sigma), "hvps": int(self.hvps)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> SpectralDensity:
        """The inverse of :meth:`to_arrays`."""
        return cls(
            np.asarray(arrays["grid"]),
            np.asarray(arrays["density"]),
            np.asarray(arrays["nodes"]),
            np.asarray(arrays["weights"]),
            float(meta["sigma"]),
            int(meta["hvps"]),
        )


def lanczos_tridiagonal(
    operator: HessianOperator, v: torch.Tensor, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalisation from unit ``v``: diagonal ``alpha`` and off-diagonal ``beta``.

    Stops early (fewer than ``steps`` entries) when the Krylov space becomes invariant.
    """
    basis = [v / v.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(steps):
        w = operator.matvec(basis[j])
        alphas.append(float(w @ basis[j]))
        q = torch.stack(basis, dim=1)
        w = w - q @ (q.T @ w)
        w = w - q @ (q.T @ w)  # twice is enough (Giraud et al. 2005)
        beta = float(w.norm())
        if j == steps - 1 or beta <= 1e-10 * max(1.0, abs(alphas[0])):
            break
        betas.append(beta)
        basis.append(w / beta)
    return np.asarray(alphas), np.asarray(betas)


def _quadrature(alphas: np.ndarray, betas: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes and weights of one tridiagonal matrix, padded to ``steps`` with zero weights."""
    t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    theta, vectors = np.linalg.eigh(t)
    tau = vectors[0] ** 2
    pad = steps - len(theta)
    return np.pad(theta, (0, pad), mode="edge"), np.pad(tau, (0, pad))


def density_of(
    operator: HessianOperator,
    steps: int = 80,
    probes: int = 1,
    seed: int = 0,
    grid_points: int = 1000,
    sigma: float | None = None,
) -> SpectralDensity:
    """Spectral density of a prepared :class:`HessianOperator` (see :func:`density`)."""
    if probes < 1 or not 2 <= steps <= operator.n:
        raise CurvatureError(f"need probes >= 1 and 2 <= steps <= n={operator.n}; got {probes}, {steps}")
    if grid_points < 10:
        raise CurvatureError(f"grid_points must be at least 10, got {grid_points}")
    start = operator.calls
    generator = torch.Generator(device=operator.device).manual_seed(seed)
    rules = [
        _quadrature(
            *lanczos_tridiagonal(operator, rademacher(operator.n, generator, operator.dtype), steps), steps
        )
        for _ in range(probes)
    ]
    nodes = np.stack([r[0] for r in rules])
    weights = np.stack([r[1] for r in rules])
    low, high = float(nodes.min()), float(nodes.max())
    width = max(high - low, 1e-12 * max(1.0, abs(high)))
    sigma = 0.01 * width if sigma is None else float(sigma)
    if not sigma > 0:
        raise CurvatureError(f"sigma must be positive, got {sigma}")
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, grid_points)
    kernel = np.exp(-0.5 * ((grid[:, None] - nodes.reshape(-1)[None, :]) / sigma) ** 2)
    values = kernel @ weights.reshape(-1) / (probes * sigma * np.sqrt(2 * np.pi))
    return SpectralDensity(grid, values, nodes, weights, sigma, operator.calls - start)


def density(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    steps: int = 80,
    probes: int = 1,
    seed: int = 0,
    grid_points: int = 1000,
    sigma: float | None = None,
    params: str | Sequence[str] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    mode: str = "auto",
) -> SpectralDensity:
    """Hessian eigenvalue density of ``model``'s mean loss on ``data`` by stochastic Lanczos quadrature.

    Args:
        model: the network.
        loss_fn: ``loss_fn(logits, y)`` returning a batch mean.
        data: ``(X, y)`` or an iterable of batches.
        steps: Lanczos steps per probe (products per probe).
        probes: number of random starting vectors averaged.
        seed: seed of the probes.
        grid_points: number of grid points.
        sigma: Gaussian broadening width (default 1% of the Ritz-value range); the grid extends
            ``5 sigma`` past the extreme nodes so that the density integrates to about 1.
        params: parameter subset (see :func:`select_parameters`).
        device: device of the products.
        dtype: dtype of the products.
        mode: Hessian-vector product mode (see :class:`HessianOperator`).

    Returns:
        A :class:`SpectralDensity`.
    """
    operator = HessianOperator(model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)
    return density_of(operator, steps, probes, seed, grid_points, sigma)
