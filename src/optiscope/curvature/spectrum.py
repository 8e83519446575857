"""The result of an eigen-solve: top eigenpairs with their residuals and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Spectrum"]


@dataclass(frozen=True)
class Spectrum:
    """Extreme eigenpairs of a Hessian.

    Attributes:
        values: eigenvalues ``(k,)``, sorted descending.
        vectors: eigenvectors ``(n, k)``, unit-norm columns matching ``values``.
        residuals: ``||H v_i - lambda_i v_i||`` ``(k,)``, from fresh Hessian-vector products.
        method: solver name (``"lanczos"``, ``"lobpcg"`` or ``"power"``).
        hvps: Hessian-vector products used, including the ``k`` residual checks.
        seconds: wall time of the solve.
        tol: the requested tolerance.
        meta: solver details (``which``, iterations, ...).
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    method: str
    hvps: int
    seconds: float
    tol: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of eigenpairs."""
        return int(self.values.shape[0])

    @property
    def ratio(self) -> float:
        """``lambda_1 / lambda_2``, the ratio of the two largest eigenvalues (seed 001, fig. 3)."""
        if self.k < 2:
            raise ValueError("the ratio needs at least two eigenvalues")
        return float(self.values[0] / self.values[1])
