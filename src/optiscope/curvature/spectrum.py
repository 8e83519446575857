"""The result of an eigen-solve: top eigenpairs with their residuals and cost."""

from __future__ import annotations

from collections.abc import Mapping
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

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The spectrum as a store unit: arrays and JSON meta (non-JSON solver details dropped)."""
        meta = {
            key: value
            for key, value in self.meta.items()
            if isinstance(value, str | int | float | bool | list | None)
        }
        arrays = {"values": self.values, "vectors": self.vectors, "residuals": self.residuals}
        info = {
            "method": self.method,
            "hvps": int(self.hvps),
            "seconds": float(self.seconds),
            "tol": float(self.tol),
        }
        return arrays, {**info, "meta": meta}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Spectrum:
        """The inverse of :meth:`to_arrays`."""
        return cls(
            np.asarray(arrays["values"]),
            np.asarray(arrays["vectors"]),
            np.asarray(arrays["residuals"]),
            str(meta["method"]),
            int(meta["hvps"]),
            float(meta["seconds"]),
            float(meta["tol"]),
            dict(meta.get("meta", {})),
        )
