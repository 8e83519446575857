"""The plain per-point loop: the oracle every fast grid engine must equal.

For each point ``c`` of ``coords (P, dims)`` the model's weights (and moving buffers) are set to
``theta + sum_i c_i d_i``, the model runs over the data in eval mode without gradients, and the
loss is the sample-weighted mean of the per-batch mean losses. Nothing clever happens here on
purpose; the helpers the engines share (batches, coordinates, labels) live here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.landscape.data_batches import Batch, iter_batches
from optiscope.landscape.directions_base import Directions, LandscapeError

__all__ = ["evaluate_points_loop"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def nonempty_batches(data: Any) -> Iterator[Batch]:
    """The batches of ``data`` (see :func:`~optiscope.landscape.data_batches.iter_batches`) with rows."""
    for inputs, targets in iter_batches(data):
        if inputs.shape[0] > 0:
            yield inputs, targets


def check_coords(coords: Any, dims: int) -> np.ndarray:
    """``coords`` as a finite float64 array ``(P, dims)``, or :class:`LandscapeError`."""
    try:
        array = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise LandscapeError("coords must be numbers of shape (points, dims)") from None
    if array.ndim != 2 or array.shape[1] != dims or array.shape[0] == 0:
        raise LandscapeError(f"coords must have shape (points, {dims}) with points >= 1, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise LandscapeError("coords must be finite")
    return array


def is_class_labels(logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Whether ``y`` holds integer class labels for ``logits (..., classes)``, so accuracy applies."""
    integer = not (y.is_floating_point() or y.is_complex() or y.dtype == torch.bool)
    return integer and logits.ndim == y.ndim + 1


def to_model(batch: Batch, reference: torch.Tensor) -> Batch:
    """The batch on ``reference``'s device; floating inputs also in its dtype."""
    inputs, targets = batch
    dtype = reference.dtype if inputs.is_floating_point() else inputs.dtype
    return inputs.to(device=reference.device, dtype=dtype), targets.to(device=reference.device)


def moving_buffers(model: nn.Module, directions: Directions) -> list[str]:
    """Names of the buffers the directions move; :class:`LandscapeError` if the model lacks one."""
    if not directions.buffers:
        return []
    names = list(directions.buffers[0])
    own = dict(model.named_buffers())
    for name in names:
        if name not in own or tuple(own[name].shape) != tuple(directions.buffers[0][name].shape):
            raise LandscapeError(f"direction buffer {name!r} does not fit the model's buffers")
    return names


def mode_flags(model: nn.Module) -> dict[str, bool]:
    """Each submodule's ``training`` flag, to restore after evaluating in eval mode."""
    return {name: module.training for name, module in model.named_modules()}


def restore_mode(model: nn.Module, flags: Mapping[str, bool]) -> None:
    """Put back the flags :func:`mode_flags` saved."""
    for name, module in model.named_modules():
        module.training = flags.get(name, module.training)


def evaluate_points_loop(
    model: nn.Module, loss_fn: LossFn, data: Any, directions: Directions, coords: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at each point of ``coords (P, dims)``, one point at a time.

    Args:
        model: the network at ``theta``; its weights and train/eval flags are restored after.
        loss_fn: ``loss_fn(logits, y)`` -> batch-mean loss.
        data: an ``(X, y)`` pair or a re-iterable of ``(X, y)`` batches.
        directions: one or two directions matching ``model``.
        coords: ``(P, dims)`` coefficients of the directions.

    Returns:
        ``loss (P,)`` and ``accuracy (P,)`` as float64; accuracy is NaN unless ``y`` holds
        integer class labels.
    """
    directions.check_model(model)
    points = check_coords(coords, directions.dims)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    moved = {**params, **{name: buffers[name] for name in moving_buffers(model, directions)}}
    vectors = [{**vector, **(directions.buffers[i] if directions.buffers else {})}
               for i, vector in enumerate(directions.vectors)]  # fmt: skip
    saved = {name: tensor.detach().clone() for name, tensor in moved.items()}
    flags = mode_flags(model)
    losses, accuracies = np.empty(len(points)), np.empty(len(points))
    try:
        model.eval()
        with torch.no_grad():
            for index, point in enumerate(points):
                for name, tensor in moved.items():
                    value = saved[name]
                    for coefficient, vector in zip(point, vectors, strict=True):
                        value = value + float(coefficient) * vector[name].to(value)
                    tensor.copy_(value)
                losses[index], accuracies[index] = _mean_over_data(model, loss_fn, data)
    finally:
        with torch.no_grad():
            for name, tensor in moved.items():
                tensor.copy_(saved[name])
        restore_mode(model, flags)
    return losses, accuracies


def _mean_over_data(model: nn.Module, loss_fn: LossFn, data: Any) -> tuple[float, float]:
    """Sample-weighted mean loss and accuracy of ``model`` over all batches of ``data``."""
    reference = next(iter(model.parameters()))
    loss_sum, correct, count, classify = 0.0, 0, 0, True
    for batch in nonempty_batches(data):
        inputs, targets = to_model(batch, reference)
        logits = model(inputs)
        size = inputs.shape[0]
        loss_sum += float(loss_fn(logits, targets)) * size
        count += size
        classify = classify and is_class_labels(logits, targets)
        if classify:
            correct += int((logits.argmax(dim=-1) == targets).sum())
    if count == 0:
        raise LandscapeError("data holds no samples")
    return loss_sum / count, correct / count if classify else float("nan")
