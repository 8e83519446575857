"""Seed 001's fig. 3 during training: the two largest Hessian eigenvalues over the last N steps.

At each of the last ``N`` planned optimizer steps the top two eigenpairs of the Hessian of the
loss on a fresh stochastic batch (100 samples in seed 001) are solved, warm-started from the
previous step's eigenvectors (:class:`~optiscope.curvature.EigenTracker`), so a step costs a
few Hessian-vector products. Its batch draws use a generator of their own, so tracking never
changes the training run itself; its state goes into each epoch's checkpoint for an exact resume.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.curvature import EigenTracker, Spectrum

__all__ = ["TrainingEigenTracker"]

_SEED_OFFSET = 104_729  # keeps the tracker's batch draws apart from the trainer's


class TrainingEigenTracker:
    """Tracks ``lambda_1``, ``lambda_2`` and their ratio over the last ``last_steps`` steps.

    Args:
        model: the network being trained.
        x: training inputs ``(N, ...)``; batches are drawn from them.
        y: training labels ``(N,)``.
        last_steps: how many of the final planned steps to track (seed 001: 100).
        planned_steps: the steps the run will take if nothing stops it early.
        batch_size: samples per stochastic Hessian (seed 001: 100).
        seed: seed of the batch draws.
        tol: relative tolerance of each eigen-solve.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        last_steps: int,
        planned_steps: int,
        batch_size: int = 100,
        seed: int = 0,
        tol: float = 1e-4,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(x))
        self.first_step = max(1, planned_steps - last_steps + 1)
        self.generator = torch.Generator().manual_seed(seed + _SEED_OFFSET)
        self.tracker = EigenTracker(
            model, nn.CrossEntropyLoss(), k=2, tol=tol, method="lanczos", dtype=torch.float64
        )  # measured: on fresh batches of 100, Lanczos from the last vectors beats block Krylov
        self.rows: list[dict[str, Any]] = []

    def after_step(self, step: int) -> None:
        """Solve on a fresh batch when ``step`` is one of the tracked steps."""
        if step < self.first_step:
            return
        index = torch.randperm(len(self.x), generator=self.generator)[: self.batch_size].to(self.x.device)
        self.tracker.update((self.x[index], self.y[index]))
        row = asdict(self.tracker.history[-1])
        row["step"] = step
        self.rows.append(row)

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata that let a resumed run continue exactly where this one is."""
        arrays = {"tracker_generator": self.generator.get_state().numpy()}
        last = self.tracker.last
        if last is not None:
            arrays |= {"tracker_vectors": last.vectors, "tracker_values": last.values}
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                for row in self.rows]  # fmt: skip
        return arrays, {"tracker_rows": rows}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Continue from :meth:`state` of a stored epoch."""
        self.generator.set_state(torch.from_numpy(arrays["tracker_generator"].copy()))
        self.rows = [dict(row) for row in meta.get("tracker_rows", [])]
        self.tracker.history = []
        if "tracker_vectors" in arrays:
            values = arrays["tracker_values"]
            self.tracker.last = Spectrum(values, arrays["tracker_vectors"], np.zeros_like(values),
                                         "restored", 0, 0.0, self.tracker.tol)  # fmt: skip

    def frame(self) -> pd.DataFrame:
        """One row per tracked step: step, lambda1, lambda2, ratio, hvps, seconds, warm."""
        columns = ["step", "lambda1", "lambda2", "ratio", "hvps", "seconds", "warm"]
        return pd.DataFrame(self.rows, columns=columns)
