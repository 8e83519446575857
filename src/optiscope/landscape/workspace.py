"""Reused output buffers for the grid engines' per-chunk tensors.

Every chunk of grid points makes the same few large temporaries (pre-activations, hidden
layers, logits). Allocated afresh, each one of several MiB is mapped and page-faulted again by
the allocator; on the CPU that cost as much as the layer products themselves (MLP grid, torch
2.13). A :class:`Workspace` hands out views of buffers kept across chunks instead.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Workspace"]


class Workspace:
    """Named flat buffers, grown on demand, lent out as contiguous views of a given shape."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A contiguous tensor of ``shape`` (dtype and device of ``like``), contents undefined.

        The same ``name`` returns the same memory until a larger shape asks for more, so a
        view taken earlier under that name must no longer be in use.
        """
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if (
            buffer is None
            or buffer.numel() < size
            or buffer.dtype != like.dtype
            or buffer.device != like.device
        ):
            buffer = torch.empty(size, dtype=like.dtype, device=like.device)
            self._buffers[name] = buffer
        return buffer[:size].view(shape)
