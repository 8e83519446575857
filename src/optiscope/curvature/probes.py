"""Random probe vectors for stochastic trace and density estimators."""

from __future__ import annotations

import torch

__all__ = ["rademacher"]


def rademacher(
    shape: tuple[int, ...] | int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Independent Rademacher entries, each exactly ``+1`` or ``-1`` with probability 1/2.

    Drawn as ``randint(0, 2) * 2 - 1``: the upper bound of ``randint`` is exclusive, so
    ``randint(0, 1)`` would always give ``-1`` (the bug of older pytorch-optimizer releases).

    Args:
        shape: output shape.
        generator: seeded generator (on ``device``'s type).
        dtype: output dtype.
        device: output device (default: the generator's).

    Returns:
        A tensor of ``shape`` holding ``+-1``.
    """
    size = (shape,) if isinstance(shape, int) else tuple(shape)
    device = generator.device if device is None else device
    bits = torch.randint(0, 2, size, generator=generator, device=device)
    return (bits * 2 - 1).to(dtype)
