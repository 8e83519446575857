"""A training path and a gradient seen on the plane (or line) of a landscape plot.

The directions of a plot are in general not orthogonal (two filter-normalised random directions,
``b - a`` and ``c - a``), so a point's coordinates are the least-squares solution of
``A^T c ~ x`` for the direction matrix ``A`` (dims, n_params): the normal equations
``(A A^T) c = A x``, solved in float64. ``A^T c`` is then the orthogonal projection of ``x`` on
the plane, and ``||A^T c||^2 = c . (A x)`` is the part of ``||x||^2`` the plot shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.landscape.data_batches import iter_batches
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.nets.recorder import flatten_parameters

__all__ = ["PathProjection", "PlaneGradient", "gradient_on_plane", "project_path"]

# float64 entries per column block when streaming a (k, n_params) path (32 MiB).
_BLOCK_ENTRIES = 2**22
# The directions' Gram matrix is singular when its determinant is below this times prod(diag).
_SINGULAR_RTOL = 1e-12


@dataclass(frozen=True)
class PathProjection:
    """A path's least-squares coordinates on the plot's directions, and how much the plot shows.

    Attributes:
        coords: ``(k, dims)`` float64, ``(alpha, beta)`` of each snapshot's displacement.
        steps: ``(k,)`` int64 optimizer steps of the snapshots, or ``None``.
        captured: ``(k,)`` ``||P d||^2 / ||d||^2`` per displacement ``d`` (1.0 where ``d = 0``).
        total_captured: ``sum ||P d_i||^2 / sum ||d_i||^2`` over the path (1.0 if all are 0).
        residual_norms: ``(k,)`` ``||d - P d||``, the distance of each snapshot from the plane.
    """

    coords: np.ndarray
    steps: np.ndarray | None
    captured: np.ndarray
    total_captured: float
    residual_norms: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per snapshot: step (the row index if no steps), alpha, (beta), captured, residual_norm."""
        steps = np.arange(len(self.coords), dtype=np.int64) if self.steps is None else self.steps
        columns: dict[str, np.ndarray] = {"step": steps, "alpha": self.coords[:, 0]}
        if self.coords.shape[1] == 2:
            columns["beta"] = self.coords[:, 1]
        columns |= {"captured": self.captured, "residual_norm": self.residual_norms}
        return pd.DataFrame(columns)


@dataclass(frozen=True)
class PlaneGradient:
    """The loss gradient at the plot's centre, seen on the plane.

    Attributes:
        coords: ``(dims,)`` float64 least-squares coordinates of the gradient on the directions.
        captured: ``||P g||^2 / ||g||^2``, the part of the gradient the plane shows (1.0 if g = 0).
        norm: ``||g||``, the full gradient's Euclidean norm.
    """

    coords: np.ndarray
    captured: float
    norm: float


def _as_path(snapshots: np.ndarray | torch.Tensor) -> np.ndarray:
    """A checked float ``(k, n_params)`` array, not copied (shared with ``pca_directions``)."""
    if isinstance(snapshots, torch.Tensor):
        snapshots = snapshots.detach().cpu().numpy()
    path = np.asarray(snapshots)
    if path.ndim != 2 or not np.issubdtype(path.dtype, np.floating):
        raise LandscapeError(f"snapshots must be a float array (k, n_params); got {path.dtype} {path.shape}")
    if not np.isfinite(path).all():
        raise LandscapeError("snapshots hold NaN or infinite values")
    return path


def _as_point(point: np.ndarray | torch.Tensor, n_params: int, what: str) -> np.ndarray:
    """A checked float64 ``(n_params,)`` copy of a point in parameter space."""
    if isinstance(point, torch.Tensor):
        point = point.detach().cpu().numpy()
    vector = np.array(point, dtype=np.float64)
    if vector.shape != (n_params,) or not np.isfinite(vector).all():
        raise LandscapeError(f"{what} must be a finite vector ({n_params},); got shape {vector.shape}")
    return vector


def _displacement_blocks(path: np.ndarray, centre: np.ndarray) -> Iterator[tuple[slice, torch.Tensor]]:
    """``(cols, path[:, cols] - centre[cols])`` as float64 blocks of about ``_BLOCK_ENTRIES`` entries.

    Blocks keep memory flat for paths of millions of parameters; they are torch tensors because
    torch's matmul stays fast where numpy's BLAS threads oversubscribe a busy machine.
    """
    width = max(1, _BLOCK_ENTRIES // max(len(path), 1))
    for start in range(0, path.shape[1], width):
        cols = slice(start, start + width)
        yield cols, torch.from_numpy(path[:, cols].astype(np.float64) - centre[cols])


def _direction_system(directions: Directions) -> tuple[torch.Tensor, np.ndarray]:
    """``(A, G)``: the float64 direction matrix ``(dims, n_params)`` and its Gram matrix ``A A^T``."""
    if not isinstance(directions, Directions):
        raise LandscapeError(f"directions must be a Directions object; got {type(directions).__name__}")
    matrix = directions.matrix().detach().to(torch.float64)
    gram = (matrix @ matrix.T).numpy()
    diagonal = np.diag(gram)
    if not np.all(diagonal > 0) or np.linalg.det(gram) <= _SINGULAR_RTOL * np.prod(diagonal):
        raise LandscapeError("the directions are zero or parallel: they span no plane to project on")
    return matrix, gram


def project_path(
    snapshots: np.ndarray | torch.Tensor,
    center: np.ndarray | torch.Tensor | nn.Module,
    directions: Directions,
    steps: np.ndarray | None = None,
) -> PathProjection:
    """Coordinates of a recorded path on the plot's directions, and the share of it they capture.

    Each displacement ``d_i = snapshot_i - center`` gets the least-squares coordinates ``c_i`` of
    ``A^T c ~ d_i`` (see the module docstring); the path is streamed in column blocks, so a path
    of millions of parameters needs no float64 copy of itself.

    Args:
        snapshots: the path, float ``(k, n_params)``, in ``named_parameters()`` order.
        center: the plot's centre ``(n_params,)`` (a vector or a model): the final weights for
            PCA and random directions, ``model_a`` for interpolation and planes through models.
        directions: one or two directions of the same parameter layout.
        steps: ``(k,)`` optimizer steps of the snapshots, carried into the result.

    Returns:
        The :class:`PathProjection`.

    Raises:
        LandscapeError: sizes disagree, values are not finite, or the directions are singular.
    """
    matrix, gram = _direction_system(directions)
    n_params = matrix.shape[1]
    path = _as_path(snapshots)
    if path.shape[1] != n_params or len(path) == 0:
        raise LandscapeError(f"snapshots must be (k >= 1, {n_params}); got {path.shape}")
    if isinstance(center, nn.Module):
        center = flatten_parameters(center)
    centre = _as_point(center, n_params, "center")
    if steps is not None:
        steps = np.asarray(steps, dtype=np.int64)
        if steps.shape != (len(path),):
            raise LandscapeError(f"steps must be ({len(path)},); got {steps.shape}")
    k = len(path)
    along_t = torch.zeros((k, len(matrix)), dtype=torch.float64)  # A d_i for every i
    squares_t = torch.zeros(k, dtype=torch.float64)
    for cols, block in _displacement_blocks(path, centre):
        along_t += block @ matrix[:, cols].T
        squares_t += (block * block).sum(dim=1)
    along, squares = along_t.numpy(), squares_t.numpy()
    coords = np.linalg.solve(gram, along.T).T
    residual_squares = torch.zeros(k, dtype=torch.float64)
    for cols, block in _displacement_blocks(path, centre):
        residual = block - torch.from_numpy(coords) @ matrix[:, cols]
        residual_squares += (residual * residual).sum(dim=1)
    shown = np.einsum("ij,ij->i", coords, along)
    moved = squares > 0
    captured = np.ones(k)
    captured[moved] = shown[moved] / squares[moved]
    total = float(shown.sum() / squares.sum()) if squares.sum() > 0 else 1.0
    return PathProjection(coords, steps, captured, total, residual_squares.sqrt().numpy())


def _mean_loss_gradient(
    model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], data: Any
) -> torch.Tensor:
    """The gradient ``(n_params,)`` float64 of the sample-weighted mean loss over all batches."""
    parameters = list(model.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    device = parameters[0].device
    total = [torch.zeros(p.shape, dtype=torch.float64) for p in parameters]
    seen = 0
    with torch.enable_grad():
        for x, y in iter_batches(data):
            loss = loss_fn(model(x.to(device)), y.to(device))
            grads = torch.autograd.grad(loss * len(x), trainable, allow_unused=True) if trainable else ()
            by_parameter = dict(zip(map(id, trainable), grads, strict=True))
            for accumulated, parameter in zip(total, parameters, strict=True):
                grad = by_parameter.get(id(parameter))
                if grad is not None:
                    accumulated += grad.detach().to("cpu", torch.float64)
            seen += len(x)
    if seen == 0:
        raise LandscapeError("data holds no examples to take the gradient on")
    return torch.cat([g.reshape(-1) for g in total]) / seen


def gradient_on_plane(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    data: Any,
    directions: Directions,
) -> PlaneGradient:
    """The gradient of the mean loss at the model's weights, projected on the plot's plane.

    The model runs in eval mode (dropout off, BatchNorm on running statistics; its mode is
    restored afterwards). Over several batches the loss is the sample-weighted mean
    ``sum_b n_b loss_b / sum_b n_b``, so batching does not change it. The parameters' ``.grad``
    is left untouched.

    Args:
        model: the network at the plot's centre; its parameters must fit ``directions``.
        loss_fn: ``loss_fn(logits, y)`` returning the batch mean, like ``nn.CrossEntropyLoss()``.
        data: a pair ``(X, y)`` of tensors or an iterable of ``(x, y)`` batches.
        directions: one or two directions of the model's layout.

    Returns:
        The :class:`PlaneGradient`: least-squares coordinates of ``g``, captured share, ``||g||``.

    Raises:
        LandscapeError: the directions do not fit the model, are singular, or data is empty.
    """
    directions.check_model(model)
    matrix, gram = _direction_system(directions)
    was_training = model.training
    model.eval()
    try:
        gradient = _mean_loss_gradient(model, loss_fn, data)
    finally:
        model.train(was_training)
    along = (matrix @ gradient).numpy()
    coords = np.linalg.solve(gram, along)
    square = float(gradient @ gradient)
    captured = float(coords @ along) / square if square > 0 else 1.0
    return PlaneGradient(coords=coords, captured=captured, norm=float(np.sqrt(square)))
