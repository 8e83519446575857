"""Shared small problems for the curvature tests, with dense float64 Hessians as the oracle.

Imported by the other ``test_curvature_*`` files; its own tests check the oracle itself.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from optiscope.nets import build_model, load_dataset

LOSS = nn.CrossEntropyLoss()


@functools.cache
def digits(limit: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` digits training samples, float64 inputs ``(N, 1, 8, 8)``."""
    data = load_dataset("digits", seed=0, limit=limit)
    return data.x_train.double(), data.y_train


def mlp(seed: int = 0) -> nn.Module:
    """A 64-8-10 MLP (610 parameters) in float64."""
    torch.manual_seed(seed)
    return build_model("mlp", (64,), 10, hidden=(8,)).double()


def tiny_cnn(seed: int = 0) -> nn.Module:
    """Conv 4@3x3, ReLU, 2x2 max-pool, linear head (410 parameters) in float64."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10)
    ).double()


class Quadratic(nn.Module):
    """A 'model' whose loss is ``0.5 theta^T A theta``, so its Hessian is exactly ``A``."""

    def __init__(self, matrix: torch.Tensor, seed: int = 0) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix)
        generator = torch.Generator().manual_seed(seed)
        self.theta = nn.Parameter(torch.randn(matrix.shape[0], generator=generator, dtype=matrix.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = 0.5 * self.theta @ (self.matrix @ self.theta)
        return value.expand(x.shape[0])


def mean_output(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The loss of :class:`Quadratic`: the batch mean of its (constant) output."""
    return output.mean()


def spiked_matrix(n: int, spikes: tuple[float, ...], seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Symmetric ``A = U diag(lambda) U^T``: a few dominant ``spikes``, the rest small, mixed sign."""
    rng = np.random.default_rng(seed)
    bulk = rng.uniform(-0.2, 1.0, n - len(spikes))
    eigenvalues = np.concatenate([np.asarray(spikes, dtype=np.float64), bulk])
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return torch.from_numpy((u * eigenvalues) @ u.T), np.sort(eigenvalues)


def quadratic_data(n_samples: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Dummy inputs for :class:`Quadratic` (its loss ignores them)."""
    return torch.zeros(n_samples, 1, dtype=torch.float64), torch.zeros(n_samples, dtype=torch.int64)


def dense_hessian(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, names: list[str] | None = None
) -> np.ndarray:
    """Dense Hessian by ``torch.func.hessian`` of the loss of a flat parameter vector."""
    named = {k: v.detach() for k, v in model.named_parameters()}
    names = list(named) if names is None else names
    shapes = [named[k].shape for k in names]
    sizes = [named[k].numel() for k in names]
    theta = torch.cat([named[k].reshape(-1) for k in names])

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        pieces = dict(
            zip(names, (p.view(s) for p, s in zip(flat.split(sizes), shapes, strict=True)), strict=True)
        )
        return LOSS(functional_call(model, {**named, **pieces}, (x,)), y)

    return torch.func.hessian(loss_of)(theta).numpy()


@functools.cache
def mlp_problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor, np.ndarray]:
    """The MLP, digits data and its dense Hessian (cached across tests)."""
    model = mlp()
    x, y = digits()
    return model, x, y, dense_hessian(model, x, y)


def test_dense_hessian_is_symmetric_and_matches_autograd_double_backward() -> None:
    model, x, y, hessian = mlp_problem()
    assert np.abs(hessian - hessian.T).max() < 1e-12, "dense Hessian is not symmetric"
    params = list(model.parameters())
    grads = torch.autograd.grad(LOSS(model(x), y), params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    row = torch.autograd.grad(flat[5], params)
    row = torch.cat([r.reshape(-1) for r in row]).numpy()
    assert np.abs(row - hessian[5]).max() < 1e-12, "torch.func.hessian disagrees with double backward"


def test_quadratic_hessian_is_its_matrix() -> None:
    matrix, _ = spiked_matrix(20, (5.0,))
    model = Quadratic(matrix)
    x, y = quadratic_data()
    theta = model.theta.detach()

    def loss_of(t: torch.Tensor) -> torch.Tensor:
        return mean_output(functional_call(model, {"theta": t}, (x,)), y)

    assert torch.allclose(torch.func.hessian(loss_of)(theta), matrix, atol=1e-12)
