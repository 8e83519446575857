"""The ``vmap`` grid engine: many grid points through any model at once.

For a chunk of ``G`` points the weights ``theta + a_g d1 + b_g d2`` are stacked into tensors
``(G, *shape)`` and ``torch.func.vmap`` runs ``functional_call(model, weights_g, X)`` and the
loss for all ``G`` points in one call. Data batches are the outer loop, so each sample is read
once; chunks of points (and, for huge batches, slices of samples) are sized to a memory budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.reference import (
    LossFn,
    check_coords,
    is_class_labels,
    moving_buffers,
    nonempty_batches,
    to_model,
)

__all__ = ["DEFAULT_MEMORY_BUDGET_BYTES", "evaluate_points_vmap"]

DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20
_MIN_POINTS_PER_CHUNK = 16  # below this many points per call, slice the samples instead
_TEMPORARIES = 2.0  # activations seen by hooks miss the op temporaries; allow as much again
Progress = Callable[[int], None]  # called with the number of samples done so far


@dataclass
class PointTotals:
    """Running sums per grid point over data batches: loss * samples, correct, samples."""

    points: int
    loss_sum: np.ndarray = field(init=False)
    correct: np.ndarray = field(init=False)
    count: int = 0
    classify: bool = True

    def __post_init__(self) -> None:
        self.loss_sum = np.zeros(self.points)
        self.correct = np.zeros(self.points)

    def add(self, index: slice, loss: torch.Tensor, correct: torch.Tensor, samples: int) -> None:
        """Add one chunk's batch-mean ``loss (G,)`` and ``correct (G,)`` over ``samples``."""
        self.loss_sum[index] += loss.detach().double().cpu().numpy() * samples
        self.correct[index] += correct.detach().double().cpu().numpy()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy per point; accuracy NaN unless targets were class labels."""
        if self.count == 0:
            raise LandscapeError("data holds no samples")
        accuracy = self.correct / self.count if self.classify else np.full(self.points, np.nan)
        return self.loss_sum / self.count, accuracy


def stack_points(
    base: Mapping[str, torch.Tensor], vectors: Sequence[Mapping[str, torch.Tensor]], coeffs: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per-point tensors ``base + sum_i coeffs[:, i] * vectors[i]``, each ``(G, *shape)``.

    One ``addmm`` per tensor: ``(G, dims) @ (dims, numel)`` added to the flattened base.
    """
    stacked = {}
    for name, value in base.items():
        moves = torch.stack([vector[name].reshape(-1) for vector in vectors])
        flat = torch.addmm(value.reshape(1, -1), coeffs.to(value.dtype), moves)
        stacked[name] = flat.reshape(-1, *value.shape)
    return stacked


def loss_and_correct(
    loss_fn: LossFn, logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One point's batch-mean loss and number of correct argmax predictions (0 if not labels)."""
    loss = loss_fn(logits, targets)
    if loss.ndim != 0:
        raise LandscapeError(f"loss_fn must return the batch mean (a scalar), got shape {tuple(loss.shape)}")
    if is_class_labels(logits, targets):
        return loss, (logits.argmax(dim=-1) == targets).sum()
    return loss, torch.zeros((), dtype=torch.int64, device=logits.device)


def activation_bytes(module: nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of all leaf-module outputs (and the output) of ``module(inputs)``, no gradients."""
    total = 0

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [leaf.register_forward_hook(hook) for leaf in leaves]
    try:
        with torch.no_grad():
            output = module(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if isinstance(output, torch.Tensor):
        total += output.numel() * output.element_size()
    return total


def plan_chunks(
    points: int, samples: int, per_point_sample: float, per_sample: float, per_point: float, budget: int
) -> tuple[int, int]:
    """``(samples per slice, points per chunk)`` whose working memory fits ``budget`` bytes.

    Working memory is ``G * S * per_point_sample + S * per_sample + G * per_point``. Samples
    are sliced only when fewer than ``_MIN_POINTS_PER_CHUNK`` points would fit with all of them.
    """
    want = min(points, _MIN_POINTS_PER_CHUNK)
    slice_size = samples
    if want * samples * per_point_sample + samples * per_sample + want * per_point > budget:
        slice_size = int((budget - want * per_point) // max(want * per_point_sample + per_sample, 1.0))
        slice_size = max(1, min(samples, slice_size))
    room = budget - slice_size * per_sample
    chunk = int(room // max(slice_size * per_point_sample + per_point, 1.0))
    return slice_size, max(1, min(points, chunk))


def evaluate_points_vmap(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Directions,
    coords: Any,
    *,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at ``coords (P, dims)`` for any model, ``G`` points per vmapped call.

    The model must be in eval mode (the caller sets it); its weights are never written.

    Returns:
        ``loss (P,)`` and ``accuracy (P,)``, equal to :func:`evaluate_points_loop`'s up to
        floating-point rounding.
    """
    directions.check_model(model)
    points = check_coords(coords, directions.dims)
    params = {name: p.detach() for name, p in model.named_parameters()}
    reference = next(iter(params.values()))
    buffer_names = moving_buffers(model, directions)
    own_buffers = dict(model.named_buffers())
    base = {**params, **{name: own_buffers[name].detach() for name in buffer_names}}
    vectors = [{name: tensor.to(base[name]) for name, tensor in {**vector, **extra}.items()}
               for vector, extra in zip(directions.vectors, directions.buffers or [{}] * directions.dims,
                                        strict=True)]  # fmt: skip
    coefficients = torch.as_tensor(points, dtype=reference.dtype, device=reference.device)
    per_point = 2.0 * sum(t.numel() * t.element_size() for t in base.values())

    def one_point(state: dict[str, torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor) -> Any:
        return loss_and_correct(loss_fn, functional_call(model, state, (inputs,)), targets)

    batched = vmap(one_point, in_dims=(0, None, None))
    totals, per_point_sample = PointTotals(len(points)), None
    for batch in nonempty_batches(data):
        inputs, targets = to_model(batch, reference)
        if per_point_sample is None:
            per_point_sample = _TEMPORARIES * activation_bytes(model, inputs[:1])
        per_sample = inputs[:1].numel() * inputs.element_size()
        slice_size, chunk = plan_chunks(
            len(points), inputs.shape[0], per_point_sample, per_sample, per_point, memory_budget_bytes
        )
        for start in range(0, inputs.shape[0], slice_size):
            x, y = inputs[start : start + slice_size], targets[start : start + slice_size]
            with torch.no_grad():
                for first in range(0, len(points), chunk):
                    index = slice(first, first + chunk)
                    loss, correct = batched(stack_points(base, vectors, coefficients[index]), x, y)
                    totals.add(index, loss, correct, x.shape[0])
            totals.count += x.shape[0]
            totals.classify = totals.classify and _labels(model, x, y)
            if progress is not None:
                progress(totals.count)
    return totals.result()


def _labels(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> bool:
    """Whether ``targets`` are class labels for ``model``'s logits (checked on shapes only)."""
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        return False
    with torch.no_grad():
        return is_class_labels(model(inputs[:1]), targets[:1])
