"""Sharpness as the optimizer sees it, tracked along training, beside its stability threshold.

Every ``K`` steps: ``lambda_max`` of the Hessian of the loss on one fixed batch and, for an
adaptive optimizer, of the preconditioned Hessian ``P^-1/2 H P^-1/2`` with ``P`` read from the
optimizer's state as its last step applied it (Adam/AdamW: ``diag(sqrt(v_hat) + eps)`` with
``v_hat = v / (1 - beta2^t)``, the AMSGrad maximum where enabled; RMSprop: ``sqrt(v) + eps``,
centred where enabled; AdaGrad: ``sqrt(sum) + eps``).

The stability threshold is where gradient descent with the update rule, frozen preconditioner
and all, stops converging on a quadratic of that sharpness (Cohen et al., "Gradient descent on
neural networks typically occurs at the edge of stability", 2021, and "Adaptive gradient methods
at the edge of stability", 2022); with ``b`` the momentum:

- gradient descent: ``2 / lr``;
- heavy ball (torch SGD, ``dampening=0``): ``(2 + 2 b) / lr``;
- Nesterov (torch SGD): ``(2 + 2 b) / ((1 + 2 b) lr)``;
- EMA momentum (``dampening = d``; the seeds' ``momentum``: ``d = b``): ``(2 + 2 b) / ((1 - d) lr)``;
- Adam/AdamW, on the preconditioned sharpness: ``(2 + 2 beta1) / ((1 - beta1) lr)``, 38 / lr at
  ``beta1 = 0.9``; RMSprop: ``(2 + 2 b) / lr``; AdaGrad: ``2 / lr_t`` (its decayed rate).

Weight decay is left out: the sharpness is that of the data loss. Other optimizers get the raw
sharpness and no threshold.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.curvature import HessianOperator, top_eigen_of
from optiscope.curvature.preconditioned import PreconditionedOperator
from optiscope.optimizers.momentum import EMAMomentum

__all__ = ["SHARPNESS_COLUMNS", "SharpnessTracker", "preconditioner_diagonal", "stability_threshold"]

SHARPNESS_COLUMNS = [
    "step", "lambda_max", "preconditioned_lambda_max", "threshold", "compared", "lr", "hvps", "seconds",
]  # fmt: skip
_SEED_OFFSET = 7_919  # keeps the fixed batch's draw apart from the trainer's and the eigen tracker's
_ADAM = (torch.optim.Adam, torch.optim.AdamW)


def _group_of(optimizer: torch.optim.Optimizer, parameter: torch.Tensor) -> dict[str, Any]:
    return next(g for g in optimizer.param_groups if any(p is parameter for p in g["params"]))


def _diagonal_of(optimizer: torch.optim.Optimizer, parameter: torch.Tensor) -> torch.Tensor | None:
    """``P``'s diagonal for one parameter, as the optimizer's last step applied it; None if unknown."""
    state, group = optimizer.state.get(parameter, {}), _group_of(optimizer, parameter)
    if isinstance(optimizer, _ADAM) and "exp_avg_sq" in state:
        v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        correction = 1.0 - group["betas"][1] ** float(state["step"])
        return (v.double() / correction).sqrt() + group["eps"]
    if isinstance(optimizer, torch.optim.RMSprop) and "square_avg" in state:
        v = state["square_avg"].double()
        if group.get("centered"):
            v = v - state["grad_avg"].double() ** 2
        return v.sqrt() + group["eps"]
    if isinstance(optimizer, torch.optim.Adagrad) and "sum" in state:
        return state["sum"].double().sqrt() + group["eps"]
    return None


def preconditioner_diagonal(
    optimizer: torch.optim.Optimizer, parameters: list[torch.Tensor]
) -> torch.Tensor | None:
    """The flat float64 diagonal of ``P`` over ``parameters`` (in their order), or None.

    None for a non-adaptive optimizer, or before its first step (no state yet).
    """
    pieces = [_diagonal_of(optimizer, p) for p in parameters]
    if any(piece is None for piece in pieces):
        return None
    return torch.cat([piece.reshape(-1).cpu() for piece in pieces])  # type: ignore[union-attr]


def stability_threshold(optimizer: torch.optim.Optimizer) -> tuple[float | None, str]:
    """``(threshold, compared)``: the sharpness above which the update is unstable, and which
    sharpness it applies to (``"hessian"``, ``"preconditioned"``, or ``"none"`` when unknown).
    See the module docstring for the formulas."""
    group = optimizer.param_groups[0]
    lr = float(group["lr"])
    if lr <= 0:
        return None, "none"
    if isinstance(optimizer, _ADAM):
        beta1 = float(group["betas"][0])
        return (2 + 2 * beta1) / ((1 - beta1) * lr), "preconditioned"
    if isinstance(optimizer, torch.optim.RMSprop):
        return (2 + 2 * float(group["momentum"])) / lr, "preconditioned"
    if isinstance(optimizer, torch.optim.Adagrad):
        steps = max((float(s["step"]) for s in optimizer.state.values() if "step" in s), default=0.0)
        return 2 * (1 + steps * float(group["lr_decay"])) / lr, "preconditioned"
    if isinstance(optimizer, EMAMomentum):
        beta = float(group["momentum"])
        return (2 + 2 * beta) / ((1 - beta) * lr), "hessian"
    if isinstance(optimizer, torch.optim.SGD):
        beta, damping = float(group["momentum"]), float(group["dampening"])
        if group.get("nesterov"):
            return (2 + 2 * beta) / ((1 + 2 * beta) * lr), "hessian"
        if beta == 0:
            return 2 / lr, "hessian"
        return (2 + 2 * beta) / ((1 - damping) * lr), "hessian"
    return None, "none"


class SharpnessTracker:
    """``lambda_max`` of the Hessian (and the preconditioned one) every ``every`` steps, on one batch.

    The batch is drawn once from a generator of its own, so tracking never changes training.
    Each solve is warm-started from the last eigenvector (:func:`top_eigen_of`, ``ritz``:
    ``tol`` is the relative eigenvalue error delivered).

    Args:
        model: the network being trained.
        optimizer: its optimizer (its state gives ``P``).
        x: training inputs; y: their labels.
        every: track at steps ``every, 2 every, ...``.
        batch_size: samples of the fixed batch.
        seed: seed of the batch draw.
        tol: relative eigenvalue error of each solve.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        every: int,
        batch_size: int = 100,
        seed: int = 0,
        tol: float = 1e-4,
    ) -> None:
        self.model, self.optimizer, self.every, self.tol = model, optimizer, every, tol
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed + _SEED_OFFSET))
        index = order[: min(batch_size, len(x))].to(x.device)
        self.batch = (x[index], y[index])
        self.rows: list[dict[str, Any]] = []
        self.vectors: dict[str, np.ndarray] = {}

    def _solve(self, operator: Any, name: str) -> tuple[float, int]:
        spectrum = top_eigen_of(operator, k=1, tol=self.tol, method="ritz", v0=self.vectors.get(name))
        self.vectors[name] = spectrum.vectors[:, 0]
        return float(spectrum.values[0]), spectrum.hvps

    def after_step(self, step: int) -> None:
        """Measure when ``step`` is a multiple of ``every``."""
        if step % self.every:
            return
        began = time.perf_counter()
        hessian = HessianOperator(self.model, nn.CrossEntropyLoss(), self.batch, dtype=torch.float64)
        raw, hvps = self._solve(hessian, "hessian")
        preconditioned = math.nan
        diagonal = preconditioner_diagonal(self.optimizer, list(self.model.parameters()))
        if diagonal is not None:
            preconditioned, more = self._solve(PreconditionedOperator(hessian, diagonal), "preconditioned")
            hvps += more
        threshold, compared = stability_threshold(self.optimizer)
        self.rows.append({
            "step": step, "lambda_max": raw, "preconditioned_lambda_max": preconditioned,
            "threshold": math.nan if threshold is None else threshold, "compared": compared,
            "lr": float(self.optimizer.param_groups[0]["lr"]), "hvps": hvps,
            "seconds": time.perf_counter() - began,
        })  # fmt: skip

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata that let a resumed run continue exactly where this one is."""
        arrays = {f"sharpness_vector_{name}": vector for name, vector in self.vectors.items()}
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in self.rows]  # fmt: skip
        return arrays, {"sharpness_rows": rows}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Continue from :meth:`state` of a stored epoch."""
        prefix = "sharpness_vector_"
        self.vectors = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
        self.rows = [{k: (math.nan if v is None else v) for k, v in row.items()}
                     for row in meta.get("sharpness_rows", [])]  # fmt: skip

    def frame(self) -> pd.DataFrame:
        """One row per tracked step, columns :data:`SHARPNESS_COLUMNS`."""
        return pd.DataFrame(self.rows, columns=SHARPNESS_COLUMNS)
