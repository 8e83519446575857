"""Per-layer curvature: top eigenvalues and trace of each diagonal block of the loss Hessian.

A layer is a module holding parameters directly (its weight and bias together), named by its
module path (``"0"``, ``"features.3"``, ``"fc1"``). Its block is the Hessian restricted to those
parameters with all others held fixed (:class:`HessianOperator` with ``params=`` the layer's
names), so each block's eigenvalues are those of the restricted quadratic model, and the block
traces add up to the full Hessian's trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.curvature.eigen import top_eigen_of
from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.hvp import Data, HessianOperator, LossFn
from optiscope.curvature.trace import trace_of

__all__ = ["DENSE_BLOCK_LIMIT", "LayerCurvature", "layer_curvature", "layer_groups"]

# A block of n <= min(trace samples, this) parameters is formed exactly from n products (fewer
# than the stochastic trace would spend); the cap bounds its n x n float64 matrix (32 MiB).
DENSE_BLOCK_LIMIT = 2048


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Parameter names grouped by the module that holds them, in ``named_parameters()`` order.

    Args:
        model: the network.

    Returns:
        ``{module path: [parameter names]}``; a parameter registered on the root module is a group
        of its own, keyed by its name.
    """
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        prefix = name.rpartition(".")[0] or name
        groups.setdefault(prefix, []).append(name)
    return groups


@dataclass(frozen=True)
class LayerCurvature:
    """Top eigenvalues and trace of each layer's Hessian block.

    Attributes:
        layers: module path of each layer, ``(L,)``.
        n_params: scalar parameters per layer, ``(L,)``.
        eigenvalues: top-``k`` algebraic eigenvalues per layer, descending, ``(L, k)``; NaN where a
            layer has at most ``j`` parameters for column ``j`` (0-based).
        trace: trace estimate per layer, ``(L,)`` (exact where ``exact``).
        trace_stderr: its standard error, ``(L,)`` (0 where exact).
        exact: whether the block was formed densely (eigenvalues and trace exact), ``(L,)``.
        products: Hessian-vector products spent per layer, ``(L,)``.
    """

    layers: tuple[str, ...]
    n_params: np.ndarray
    eigenvalues: np.ndarray
    trace: np.ndarray
    trace_stderr: np.ndarray
    exact: np.ndarray
    products: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per layer: ``layer, n_params, lambda1[, lambda2, ...], trace, trace_stderr,
        exact, products``."""
        columns: dict[str, Any] = {"layer": list(self.layers), "n_params": self.n_params}
        for j in range(self.eigenvalues.shape[1]):
            columns[f"lambda{j + 1}"] = self.eigenvalues[:, j]
        columns.update(
            trace=self.trace, trace_stderr=self.trace_stderr, exact=self.exact, products=self.products
        )
        return pd.DataFrame(columns)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The result as a store unit: numeric arrays, layer names as JSON meta."""
        arrays = {"n_params": self.n_params, "eigenvalues": self.eigenvalues, "trace": self.trace,
                  "trace_stderr": self.trace_stderr, "exact": self.exact,
                  "products": self.products}  # fmt: skip
        return arrays, {"layers": list(self.layers)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> LayerCurvature:
        """The inverse of :meth:`to_arrays`."""
        fields = ("n_params", "eigenvalues", "trace", "trace_stderr", "exact", "products")
        return cls(tuple(meta["layers"]), *(np.asarray(arrays[name]) for name in fields))


def _dense_block(operator: HessianOperator, k: int) -> tuple[np.ndarray, float]:
    """Top-``k`` eigenvalues (NaN-padded) and exact trace from the block ``H I`` (``n`` products)."""
    block = operator.matmat(torch.eye(operator.n, device=operator.device, dtype=operator.dtype))
    block = block.to("cpu", torch.float64).numpy()
    block = 0.5 * (block + block.T)  # symmetric up to rounding
    values = np.full(k, np.nan)
    top = np.linalg.eigvalsh(block)[::-1][:k]
    values[: len(top)] = top
    return values, float(np.trace(block))


def _one_layer(operator: HessianOperator, k: int, options: Mapping[str, Any]) -> tuple[np.ndarray, tuple]:
    """Eigenvalues and ``(trace, stderr, exact)`` of one layer's operator."""
    n, samples = operator.n, options["trace_samples"]
    if n <= min(samples, DENSE_BLOCK_LIMIT):
        values, exact_trace = _dense_block(operator, k)
        return values, (exact_trace, 0.0, True)
    found = top_eigen_of(operator, k=min(k, n - 1), tol=options["tol"], method=options["method"],
                         seed=options["seed"])  # fmt: skip
    values = np.full(k, np.nan)
    values[: found.k] = found.values
    estimate = trace_of(operator, options["trace_method"], samples, options["seed"])
    return values, (estimate.value, estimate.stderr, False)


def layer_curvature(
    model: nn.Module,
    loss_fn: LossFn,
    data: Data,
    k: int = 2,
    tol: float = 1e-6,
    method: str = "lanczos",
    trace_method: str = "hutch++",
    trace_samples: int = 150,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    mode: str = "auto",
) -> LayerCurvature:
    """Top-``k`` eigenvalues and trace of the Hessian block of each layer (see :func:`layer_groups`).

    A layer with at most ``min(trace_samples, DENSE_BLOCK_LIMIT)`` parameters is formed densely
    from ``n`` products (exact values, fewer products than the trace estimate would take); a
    larger one goes to :func:`top_eigen_of` (``k`` capped at ``n - 1``) and :func:`trace_of`.

    Args:
        model: the network.
        loss_fn: ``loss_fn(logits, y)`` returning the batch mean.
        data: ``(X, y)`` or an iterable of batches.
        k: eigenvalues per layer (largest algebraic).
        tol: eigen-solver tolerance (see :func:`top_eigen_of`).
        method: eigen-solver (see :func:`top_eigen_of`).
        trace_method: ``"hutchinson"`` or ``"hutch++"``.
        trace_samples: product budget of each layer's trace estimate.
        seed: seed of start vectors and probes.
        device: device of the products.
        dtype: dtype of the products.
        mode: Hessian-vector product mode (see :class:`HessianOperator`).

    Returns:
        A :class:`LayerCurvature` with one row per layer.

    Raises:
        CurvatureError: ``k < 1``, or an eigen-solver or trace estimate fails.
    """
    if k < 1:
        raise CurvatureError(f"k must be at least 1, got {k}")
    options = {"tol": tol, "method": method, "trace_method": trace_method, "trace_samples": trace_samples,
               "seed": seed}  # fmt: skip
    groups = layer_groups(model)
    rows: list[tuple[int, np.ndarray, tuple, int]] = []
    for names in groups.values():
        operator = HessianOperator(model, loss_fn, data, params=names, device=device, dtype=dtype, mode=mode)
        values, trace_row = _one_layer(operator, k, options)
        rows.append((operator.n, values, trace_row, operator.calls))
    return LayerCurvature(
        layers=tuple(groups),
        n_params=np.array([row[0] for row in rows], dtype=np.int64),
        eigenvalues=np.stack([row[1] for row in rows]),
        trace=np.array([row[2][0] for row in rows], dtype=np.float64),
        trace_stderr=np.array([row[2][1] for row in rows], dtype=np.float64),
        exact=np.array([row[2][2] for row in rows], dtype=bool),
        products=np.array([row[3] for row in rows], dtype=np.int64),
    )
