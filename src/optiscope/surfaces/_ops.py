"""Small torch helpers that keep gradients finite at the kinks of non-smooth surfaces."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["safe_sqrt"]


def safe_sqrt(values: Tensor) -> Tensor:
    """Square root of non-negative ``values`` whose gradient at 0 is 0 instead of NaN.

    ``torch.sqrt`` has an infinite derivative at 0, which autograd multiplies by the inner
    derivative (often 0) into NaN; the double ``where`` routes the gradient around the kink so
    optimisers that land exactly on it see the subgradient 0.
    """
    positive = values > 0
    safe_values = torch.where(positive, values, torch.ones_like(values))
    return torch.where(positive, torch.sqrt(safe_values), torch.zeros_like(values))
