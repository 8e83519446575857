"""Seed 003's linear regression ``y = theta0 + theta1 x`` as a loss over ``(theta0, theta1)``.

The data are synthetic and seeded: ``x ~ U(-1, 1)``, ``y = 2 + 3 x + noise_std * N(0, 1)``,
drawn in float64 from ``torch.Generator().manual_seed(data_seed)``. Three losses: MSE, RMSE
and MAE. With ``batch_size > 0`` the surface also has a ``stochastic`` loss, evaluated on a
mini-batch of ``batch_size`` samples drawn without replacement with the caller's generator, so
SGD on it is really stochastic; one mini-batch is drawn per call and shared by all points
(draw it outside ``torch.func.vmap``, which refuses random ops).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from optiscope.errors import SpecError
from optiscope.surfaces._ops import safe_sqrt
from optiscope.surfaces._validation import as_float, as_int
from optiscope.surfaces.base import Surface

__all__ = [
    "TRUE_PARAMETERS",
    "RegressionLoss",
    "make_data",
    "regression_mae",
    "regression_mse",
    "regression_rmse",
]

TRUE_PARAMETERS = (2.0, 3.0)
"""``(theta0, theta1)`` of the line the data are drawn around."""


def make_data(n_samples: int, data_seed: int, noise_std: float) -> tuple[Tensor, Tensor]:
    """The regression data ``(x, y)``, each of shape ``(n_samples,)``, float64 on the CPU."""
    generator = torch.Generator().manual_seed(data_seed)
    x = torch.rand(n_samples, generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn(n_samples, generator=generator, dtype=torch.float64)
    return x, TRUE_PARAMETERS[0] + TRUE_PARAMETERS[1] * x + noise_std * noise


class RegressionLoss:
    """One loss of the linear model over ``(theta0, theta1)``: full-batch and mini-batch."""

    def __init__(self, x: Tensor, y: Tensor, loss: str, batch_size: int) -> None:
        self.x = x
        self.y = y
        self.loss = loss
        self.batch_size = batch_size
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "loss": self.loss, "batch_size": self.batch_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["x"], state["y"], state["loss"], state["batch_size"])

    def _data(self, points: Tensor) -> tuple[Tensor, Tensor]:
        key = (points.device, points.dtype)
        if key not in self._cache:
            self._cache[key] = (self.x.to(*key), self.y.to(*key))
        return self._cache[key]

    def _reduce(self, points: Tensor, x: Tensor, y: Tensor) -> Tensor:
        residuals = y - points[..., 0:1] - points[..., 1:2] * x
        if self.loss == "mae":
            return residuals.abs().mean(dim=-1)
        mse = (residuals**2).mean(dim=-1)
        return safe_sqrt(mse) if self.loss == "rmse" else mse

    def __call__(self, points: Tensor) -> Tensor:
        """The full-batch loss at ``points`` ``(..., 2)``; returns ``(...)``."""
        x, y = self._data(points)
        return self._reduce(points, x, y)

    def minibatch(self, points: Tensor, generator: torch.Generator) -> Tensor:
        """The loss on ``batch_size`` samples drawn without replacement with ``generator``."""
        indices = torch.randperm(len(self.x), generator=generator, device=generator.device)
        indices = indices[: self.batch_size].to(points.device)
        x, y = self._data(points)
        return self._reduce(points, x[indices], y[indices])


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    design = np.stack([np.ones_like(x), x], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return (float(solution[0]), float(solution[1]))


def _least_absolute(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The MAE minimiser as a linear programme: min sum t_i, -t_i <= y_i - a - b x_i <= t_i."""
    from scipy.optimize import linprog

    n = len(x)
    ones, eye = np.ones((n, 1)), np.eye(n)
    design = np.hstack([ones, x[:, None]])
    constraints = np.vstack([np.hstack([-design, -eye]), np.hstack([design, -eye])])
    bounds = np.concatenate([-y, y])
    cost = np.concatenate([[0.0, 0.0], np.ones(n)])
    limits = [(None, None), (None, None)] + [(0.0, None)] * n
    result = linprog(cost, A_ub=constraints, b_ub=bounds, bounds=limits, method="highs")
    if not result.success:
        raise RuntimeError(f"MAE linear programme failed: {result.message}")
    return (float(result.x[0]), float(result.x[1]))


def _regression(loss: str, n_samples: Any, data_seed: Any, noise_std: Any, batch_size: Any) -> Surface:
    n_samples = as_int(n_samples, "n_samples", minimum=2)
    data_seed = as_int(data_seed, "data_seed")
    noise_std = as_float(noise_std, "noise_std", minimum=0.0)
    batch_size = as_int(batch_size, "batch_size", minimum=0)
    if batch_size > n_samples:
        raise SpecError(f"batch_size {batch_size} exceeds n_samples {n_samples}")
    x, y = make_data(n_samples, data_seed, noise_std)
    function = RegressionLoss(x, y, loss, batch_size)
    solve = _least_absolute if loss == "mae" else _least_squares
    minimum = solve(x.numpy(), y.numpy())
    minimum_value = float(function(torch.tensor(minimum, dtype=torch.float64)))
    reductions = {
        "mse": "mean((y - t0 - t1 x)^2)",
        "rmse": "sqrt(mean((y - t0 - t1 x)^2))",
        "mae": "mean(|y - t0 - t1 x|)",
    }
    batch_text = f"mini-batches of {batch_size}" if batch_size else "the full batch"
    return Surface(
        name=f"regression_{loss}",
        function=function,
        domain=((-3.0, 7.0), (-2.0, 8.0)),
        start=(-2.0, -1.0),
        axis_names=("theta0", "theta1"),
        minima=(minimum,),
        minimum_value=minimum_value,
        formula=reductions[loss],
        description=f"{loss.upper()} of a line fitted to {n_samples} noisy samples of "
        f"y = 2 + 3x, over (theta0, theta1); SGD uses {batch_text} (seed 003).",
        stochastic=function.minibatch if batch_size else None,
        options={
            "n_samples": n_samples,
            "data_seed": data_seed,
            "noise_std": noise_std,
            "batch_size": batch_size,
        },
    )


def regression_mse(
    n_samples: int = 100, data_seed: int = 0, noise_std: float = 0.5, batch_size: int = 10
) -> Surface:
    """Mean squared error; its minimiser is the least-squares solution (``numpy.linalg.lstsq``).

    Raises:
        SpecError: an option out of range (``n_samples >= 2``, ``0 <= batch_size <= n_samples``).
    """
    return _regression("mse", n_samples, data_seed, noise_std, batch_size)


def regression_rmse(
    n_samples: int = 100, data_seed: int = 0, noise_std: float = 0.5, batch_size: int = 10
) -> Surface:
    """Root mean squared error: same minimiser as MSE, gradients of constant size far away.

    Its mini-batch loss is a biased estimate of the full loss (the square root is concave).

    Raises:
        SpecError: an option out of range.
    """
    return _regression("rmse", n_samples, data_seed, noise_std, batch_size)


def regression_mae(
    n_samples: int = 100, data_seed: int = 0, noise_std: float = 0.5, batch_size: int = 10
) -> Surface:
    """Mean absolute error: piecewise linear, minimiser from a linear programme (scipy HiGHS).

    Raises:
        SpecError: an option out of range.
    """
    return _regression("mae", n_samples, data_seed, noise_std, batch_size)
