"""Track the top Hessian eigenpairs along training, warm-starting each step from the last.

Seed 001 (Brioschi et al., 2023, fig. 3) follows ``lambda_1 / lambda_2`` on a stochastic batch of
100 over the last 100 iterations. Consecutive steps have nearby Hessians, so the previous
eigenvectors are a good start: the first step is solved cold by Lanczos, later steps by block
Krylov iterations (:func:`block_krylov`) or LOBPCG (Knyazev 2001) started from the previous
eigenvectors, with the residual tolerance set from the previous ``lambda_1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.curvature.eigen import top_eigen_of
from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import Batch, HessianOperator, LossFn
from optiscope.curvature.spectrum import Spectrum

__all__ = ["EigenTracker", "TrackRecord"]


@dataclass(frozen=True)
class TrackRecord:
    """One tracked step: the top two eigenvalues, their ratio and the cost."""

    step: int
    lambda1: float
    lambda2: float
    ratio: float
    hvps: int
    seconds: float
    warm: bool


class EigenTracker:
    """Top-``k`` Hessian eigenpairs of a model, one stochastic batch per :meth:`update`.

    Args:
        model: the network (read at each update, so it may train in between).
        loss_fn: ``loss_fn(logits, y)`` returning a batch mean.
        k: number of eigenpairs (at least 2 for the ratio).
        tol: relative tolerance (see :func:`top_eigen_of`).
        method: solver of warm steps: ``"krylov"`` (block Krylov from the previous vectors),
            ``"lobpcg"`` (warm-started), or ``"lanczos"`` (started from the sum of the previous
            vectors).
        cold_method: solver of the first step.
        params: parameter subset (see :func:`select_parameters`).
        device: device of the products.
        dtype: dtype of the products.
        mode: Hessian-vector product mode (see :class:`HessianOperator`).
        max_hvps: budget of one step.
        seed: seed of the first step's random start.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        k: int = 2,
        tol: float = 1e-4,
        method: str = "krylov",
        cold_method: str = "lanczos",
        params: str | Sequence[str] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        mode: str = "auto",
        max_hvps: int = 10_000,
        seed: int = 0,
    ) -> None:
        if k < 2:
            raise CurvatureError(f"the tracker needs k >= 2 for the ratio, got {k}")
        self.model, self.loss_fn = model, loss_fn
        self.k, self.tol, self.method, self.cold_method = k, tol, method, cold_method
        self.params, self.device, self.dtype, self.mode = params, device, dtype, mode
        self.max_hvps, self.seed = max_hvps, seed
        self.history: list[TrackRecord] = []
        self.last: Spectrum | None = None

    def update(self, batch: Batch) -> tuple[np.ndarray, int]:
        """Solve on this step's ``batch``; returns ``(values (k,), hvps used)`` and records it."""
        operator = HessianOperator(
            self.model,
            self.loss_fn,
            batch,
            params=self.params,
            device=self.device,
            dtype=self.dtype,
            mode=self.mode,
        )
        warm = self.last is not None
        if self.last is None:
            spectrum = top_eigen_of(
                operator,
                k=self.k,
                tol=self.tol,
                method=self.cold_method,
                max_hvps=self.max_hvps,
                seed=self.seed,
            )
        else:
            spectrum = top_eigen_of(
                operator,
                k=self.k,
                tol=self.tol,
                method=self.method,
                v0=self.last.vectors,
                max_hvps=self.max_hvps,
                scale=float(np.max(np.abs(self.last.values))),
            )
        self.last = spectrum
        values = spectrum.values
        self.history.append(
            TrackRecord(
                step=len(self.history),
                lambda1=float(values[0]),
                lambda2=float(values[1]),
                ratio=float(values[0] / values[1]),
                hvps=spectrum.hvps,
                seconds=spectrum.seconds,
                warm=warm,
            )
        )
        return values, spectrum.hvps

    def to_frame(self) -> pd.DataFrame:
        """The history as a frame with columns step, lambda1, lambda2, ratio, hvps, seconds, warm."""
        columns = list(TrackRecord.__dataclass_fields__)
        return pd.DataFrame([asdict(r) for r in self.history], columns=columns)
