"""The common curvature numbers in one call: top eigenvalues, trace and spectral density.

:func:`summary` builds one :class:`HessianOperator` and runs :func:`top_eigen_of`,
:func:`trace_of` and :func:`density_of` on it. Its defaults are those of ``optiscope curvature``
(Lanczos to 1e-6, Hutch++ with 150 products, 80 Lanczos steps x 3 probes, seed 0, float64), so
the command and this function give the same numbers on the same model and data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.curvature.density import SpectralDensity, density_of
from optiscope.curvature.eigen import top_eigen_of
from optiscope.curvature.hvp import Data, HessianOperator, LossFn
from optiscope.curvature.spectrum import Spectrum
from optiscope.curvature.trace import TraceEstimate, trace_of

__all__ = ["CurvatureSummary", "density_steps_for", "summary"]


@dataclass(frozen=True)
class CurvatureSummary:
    """What :func:`summary` measured.

    Attributes:
        spectrum: the top-k eigenpairs with residual norms, values descending.
        trace: the stochastic trace estimate with its standard error, or ``None``.
        density: the spectral density (stochastic Lanczos quadrature), or ``None``.
    """

    spectrum: Spectrum
    trace: TraceEstimate | None
    density: SpectralDensity | None

    @property
    def eigenvalues(self) -> np.ndarray:
        """The top-k eigenvalues ``(k,)``, descending."""
        return self.spectrum.values

    def describe(self) -> dict[str, Any]:
        """The numbers as plain JSON-able values (eigenvalues, residuals, trace, density mean)."""
        described: dict[str, Any] = {
            "eigenvalues": [float(v) for v in self.spectrum.values],
            "residuals": [float(r) for r in self.spectrum.residuals],
        }
        if self.trace is not None:
            described["trace"] = {"value": self.trace.value, "stderr": self.trace.stderr}
        if self.density is not None:
            described["density_mean"] = self.density.mean
        return described


def density_steps_for(model: nn.Module, steps: int) -> int:
    """``steps`` Lanczos steps, or the number of parameters ``n`` when the model has fewer.

    ``n`` steps span the whole space, so the quadrature is then exact: a small model's density
    needs no more, and Lanczos cannot take more.
    """
    return min(steps, sum(p.numel() for p in model.parameters()))


def summary(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    k: int = 2,
    *,
    tol: float = 1e-6,
    method: str = "lanczos",
    trace: bool = True,
    trace_method: str = "hutch++",
    trace_samples: int = 150,
    density: bool = True,
    density_steps: int = 80,
    density_probes: int = 3,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> CurvatureSummary:
    """Top-``k`` Hessian eigenvalues, a trace estimate and the spectral density of the mean loss.

    Example::

        numbers = optiscope.curvature.summary(model, nn.CrossEntropyLoss(), (x, y), k=3)
        numbers.eigenvalues, numbers.trace.value, numbers.density.grid

    Args:
        model: the network (put in eval mode during each product, then restored).
        loss_fn: ``loss_fn(outputs, y)`` returning the batch mean.
        data: ``(x, y)`` tensors or an iterable of ``(x, y)`` batches.
        k: number of top eigenpairs.
        tol: relative tolerance of the eigen-solver.
        method: ``lanczos``, ``lobpcg`` or ``power``.
        trace: estimate the trace.
        trace_method: ``hutch++`` or ``hutchinson``.
        trace_samples: Hessian-vector products for the trace.
        density: estimate the spectral density.
        density_steps: Lanczos steps per probe (at most the number of parameters, see
            :func:`density_steps_for`).
        density_probes: random probes averaged.
        seed: seed of the start vectors and probes.
        device: where the products run (default: the model's device).
        dtype: dtype of the products (float64 by default, as the command uses).

    Returns:
        A :class:`CurvatureSummary`.

    Raises:
        CurvatureError: bad sizes or methods, or no convergence within budget.
    """
    operator = HessianOperator(model, loss_fn, data, device=device, dtype=dtype)
    spectrum = top_eigen_of(operator, k=k, tol=tol, method=method, seed=seed)
    estimate = trace_of(operator, trace_method, trace_samples, seed) if trace else None
    steps = density_steps_for(model, density_steps)
    spread = density_of(operator, steps, density_probes, seed) if density else None
    return CurvatureSummary(spectrum, estimate, spread)
