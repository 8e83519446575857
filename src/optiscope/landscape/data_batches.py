"""The one data convention of the landscape package: a pair ``(X, y)`` or an iterable of pairs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

from optiscope.landscape.directions_base import LandscapeError

__all__ = ["Batch", "iter_batches"]

Batch = tuple[torch.Tensor, torch.Tensor]


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, tuple | list)
        and len(item) == 2
        and all(isinstance(part, torch.Tensor) for part in item)
    )


def iter_batches(data: Any, batch_size: int | None = None) -> Iterator[Batch]:
    """Yield ``(x, y)`` batches from a tensor pair or an iterable of pairs (a DataLoader).

    A pair is yielded whole, or cut into batches of ``batch_size`` (the last one shorter) when
    given; an iterable's batches pass through as they come (``batch_size`` does not re-cut them).

    Args:
        data: a pair ``(X, y)`` of tensors with one row per example, or an iterable of such pairs.
        batch_size: rows per batch when cutting a pair; ``None`` keeps it whole.

    Yields:
        ``(x, y)`` tensor pairs, each with as many rows in ``x`` as in ``y``.

    Raises:
        LandscapeError: ``data`` is neither form, a batch is malformed, or ``batch_size`` < 1.
    """
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size < 1):  # fmt: skip
        raise LandscapeError(f"batch_size must be a positive integer or None; got {batch_size!r}")
    if _is_pair(data):
        x, y = data
        _check_rows(x, y)
        if batch_size is None:
            yield x, y
            return
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    if isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise LandscapeError("data must be a pair (X, y) of tensors or an iterable of (x, y) batches")
    for item in data:
        if not _is_pair(item):
            raise LandscapeError(f"each batch must be a pair (x, y) of tensors; got {type(item).__name__}")
        _check_rows(*item)
        yield item[0], item[1]


def _check_rows(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise LandscapeError(
            f"x and y need one row per example; got shapes {tuple(x.shape)}, {tuple(y.shape)}"
        )
