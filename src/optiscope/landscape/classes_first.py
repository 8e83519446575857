"""Cross-entropy for many grid points with the classes on the middle axis.

The grid engines produce logits ``(G points, S samples, C classes)``. With ``C`` around 10, a
softmax over the last axis runs one short row at a time and took about a fifth of the MLP
grid's time (torch 2.13, CPU). Laid out ``(G, C, S)`` instead, ``F.cross_entropy`` takes the
classes on axis 1 natively (4x faster there), and ``max`` over classes runs as an element-wise
operation on ``C`` long rows of ``S`` samples. This path serves only the plain mean
cross-entropy; any other loss keeps the general per-point call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cross_entropy_classes_first", "is_plain_cross_entropy", "targets_fit"]


def is_plain_cross_entropy(loss_fn: Any) -> bool:
    """Whether ``loss_fn`` is the unweighted, unsmoothed batch-mean cross-entropy.

    ``F.cross_entropy`` itself and ``nn.CrossEntropyLoss()`` with default options qualify;
    a subclass, a weight, label smoothing or another reduction does not.
    """
    if loss_fn is F.cross_entropy:
        return True
    return (
        type(loss_fn) is nn.CrossEntropyLoss
        and loss_fn.weight is None
        and loss_fn.reduction == "mean"
        and loss_fn.label_smoothing == 0.0
    )


def targets_fit(targets: torch.Tensor, classes: int, ignore_index: int = -100) -> bool:
    """Whether ``targets`` are 1-D class labels in ``[0, classes)`` with none ignored.

    Only then does :func:`cross_entropy_classes_first` equal ``F.cross_entropy`` per point; any
    other targets go to the general per-point loss, which decides what they mean.
    """
    if (
        targets.ndim != 1
        or targets.numel() == 0
        or targets.is_floating_point()
        or targets.dtype == torch.bool
    ):
        return False
    return not bool(((targets < 0) | (targets >= classes) | (targets == ignore_index)).any())


def cross_entropy_classes_first(
    logits: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy ``(G,)`` and correct argmax counts ``(G,)`` of logits ``(G, C, S)``.

    ``targets (S,)`` must pass :func:`targets_fit` (checked once per slice by the caller).
    """
    points = logits.shape[0]
    loss = F.cross_entropy(logits, targets.expand(points, -1), reduction="none").mean(dim=1)
    # max(dim) returns the first maximum's index, as argmax does, and runs along a strided axis
    # about 5x faster than argmax there (torch 2.13, CPU).
    correct = (logits.max(dim=1).indices == targets).sum(dim=1)
    return loss, correct
