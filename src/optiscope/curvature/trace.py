"""Stochastic estimates of the Hessian trace: Hutchinson and Hutch++.

Hutchinson (1989): ``tr(H) = E[z^T H z]`` for Rademacher ``z``. Hutch++ (Meyer, Musco, Musco and
Woodruff, 2021, "Hutch++: Optimal Stochastic Trace Estimation") spends a third of its budget
sketching the range of ``H`` (``Q = orth(H S)``), a third on the exact trace of ``Q^T H Q``, and
the last third on Hutchinson for the deflated remainder ``(I - QQ^T) H (I - QQ^T)``; its
standard error is that of the remainder's Hutchinson part.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import Data, HessianOperator, LossFn
from optiscope.curvature.probes import rademacher

__all__ = ["TRACE_METHODS", "TraceEstimate", "hutch_plus_plus", "hutchinson", "trace", "trace_of"]

TRACE_METHODS = ("hutchinson", "hutch++")


@dataclass(frozen=True)
class TraceEstimate:
    """A stochastic trace estimate.

    Attributes:
        value: the estimate of ``tr(H)``.
        stderr: its standard error (sample standard deviation of the random part / sqrt(samples)).
        samples: number of random probes in the averaged (Hutchinson) part.
        hvps: Hessian-vector products used in total.
    """

    value: float
    stderr: float
    samples: int
    hvps: int

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The estimate as a store unit: no arrays, its numbers as JSON meta."""
        return {}, {"value": float(self.value), "stderr": float(self.stderr), "samples": int(self.samples),
                    "hvps": int(self.hvps)}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> TraceEstimate:
        """The inverse of :meth:`to_arrays`."""
        return cls(float(meta["value"]), float(meta["stderr"]), int(meta["samples"]), int(meta["hvps"]))


def _quadratic_forms(operator: HessianOperator, probes: torch.Tensor, chunk: int = 32) -> torch.Tensor:
    """``z_i^T H z_i`` for each column of ``probes`` ``(n, s)``, in chunks of columns."""
    forms = [torch.sum(block * operator.matmat(block), dim=0) for block in torch.split(probes, chunk, dim=1)]
    return torch.cat(forms)


def _generator(operator: HessianOperator, seed: int) -> torch.Generator:
    return torch.Generator(device=operator.device).manual_seed(seed)


def hutchinson(operator: HessianOperator, samples: int, seed: int = 0) -> TraceEstimate:
    """Hutchinson's estimate from ``samples`` Rademacher probes (``samples`` products)."""
    if samples < 2:
        raise CurvatureError(f"hutchinson needs at least 2 samples for a standard error, got {samples}")
    probes = rademacher((operator.n, samples), _generator(operator, seed), operator.dtype, operator.device)
    forms = _quadratic_forms(operator, probes).double()
    return TraceEstimate(float(forms.mean()), float(forms.std() / math.sqrt(samples)), samples, samples)


def hutch_plus_plus(operator: HessianOperator, samples: int, seed: int = 0) -> TraceEstimate:
    """Hutch++ with a budget of ``samples`` products split in thirds (sketch, exact part, residual).

    The sketch gets ``s = samples // 3`` products, the exact trace of ``Q^T H Q`` another ``s``,
    and Hutchinson on the deflated remainder the other ``samples - 2 s`` (at least 2).
    """
    sketch = samples // 3
    residual = samples - 2 * sketch
    if sketch < 1 or residual < 2:
        raise CurvatureError(f"hutch++ needs at least 4 samples (products), got {samples}")
    generator = _generator(operator, seed)
    s = rademacher((operator.n, sketch), generator, operator.dtype, operator.device)
    q = torch.linalg.qr(operator.matmat(s)).Q
    exact = torch.sum(q * operator.matmat(q))
    g = rademacher((operator.n, residual), generator, operator.dtype, operator.device)
    g = g - q @ (q.T @ g)
    forms = _quadratic_forms(operator, g).double()
    value = float(exact) + float(forms.mean())
    return TraceEstimate(value, float(forms.std() / math.sqrt(residual)), residual, 2 * sketch + residual)


def trace_of(
    operator: HessianOperator, method: str = "hutchinson", samples: int = 100, seed: int = 0
) -> TraceEstimate:
    """Trace estimate of a prepared :class:`HessianOperator` (see :func:`trace`)."""
    if method == "hutchinson":
        return hutchinson(operator, samples, seed)
    if method == "hutch++":
        return hutch_plus_plus(operator, samples, seed)
    raise CurvatureError(f"unknown trace method {method!r}; choose one of {TRACE_METHODS}")


def trace(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    method: str = "hutchinson",
    samples: int = 100,
    seed: int = 0,
    params: str | Sequence[str] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    mode: str = "auto",
) -> TraceEstimate:
    """Estimate the trace of the Hessian of ``model``'s mean loss on ``data``.

    Args:
        model: the network.
        loss_fn: ``loss_fn(logits, y)`` returning a batch mean.
        data: ``(X, y)`` or an iterable of batches.
        method: ``"hutchinson"`` or ``"hutch++"``.
        samples: budget of Hessian-vector products.
        seed: seed of the probes.
        params: parameter subset (see :func:`select_parameters`).
        device: device of the products.
        dtype: dtype of the products.
        mode: Hessian-vector product mode (see :class:`HessianOperator`).

    Returns:
        A :class:`TraceEstimate`.
    """
    operator = HessianOperator(model, loss_fn, data, params=params, device=device, dtype=dtype, mode=mode)
    return trace_of(operator, method, samples, seed)
