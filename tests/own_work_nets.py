"""A researcher's own code, as tests/test_own_work.py imports it by path: a model, its factory, data.

Nothing in optiscope knows these; the tests reach them only as ``own_work_nets:make_model`` and
``own_work_nets:load_data``, as a user's package on PYTHONPATH.
"""

from __future__ import annotations

import torch
from torch import nn

FEATURES, CLASSES, SAMPLES = 3, 3, 48


class TwoLayerNet(nn.Module):
    """A small classifier with a named layer structure of its own."""

    def __init__(self, hidden: int = 6) -> None:
        super().__init__()
        self.encoder = nn.Linear(FEATURES, hidden)
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.encoder(x)))


def make_model() -> nn.Module:
    """The untrained model, with no arguments (what ``factory=`` and ``--model`` name)."""
    return TwoLayerNet()


def make_regressor() -> nn.Module:
    """A model with one output per sample, for the MSE loss."""
    return nn.Sequential(nn.Linear(FEATURES, 5), nn.Tanh(), nn.Linear(5, 1))


def load_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Three noisy classes in three features, seeded."""
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(SAMPLES, FEATURES, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y


def load_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same data as :func:`load_data`, as a list of batches (a DataLoader's shape)."""
    x, y = load_data()
    return [(x[:20], y[:20]), (x[20:], y[20:])]


def broken_factory() -> nn.Module:
    """A factory whose own code fails."""
    raise RuntimeError("no weights for you")
