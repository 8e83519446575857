"""The registry's own optimizers against independent references, and the catalog's shape."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from scipy import linalg

import optiscope.optimizers as optimizers
from optiscope.optimizers import (
    TeachingOptimizer,
    build_optimizer,
    full_matrix_adagrad_updates,
    get_entry,
    list_entries,
)
from optiscope.optimizers.catalog import COLLISION_PREFIX, torch_classes


def test_public_names_import() -> None:
    for name in optimizers.__all__:
        assert getattr(optimizers, name) is not None, name


def test_catalog_covers_torch_and_pytorch_optimizer() -> None:
    import pytorch_optimizer

    names = {entry.name for entry in list_entries()}
    assert set(torch_classes()) <= names
    for name in pytorch_optimizer.get_supported_optimizers():
        assert name in names or f"{COLLISION_PREFIX}{name}" in names, name
    assert [entry.name for entry in list_entries()] == sorted(names)


def _quadratic_grad(point: np.ndarray) -> np.ndarray:
    return np.array([point[0], 4.0 * point[1]])


def test_ema_momentum_matches_a_numpy_loop() -> None:
    lr, beta, decay = 0.1, 0.8, 0.01
    point = np.array([1.5, -1.2])
    velocity = np.zeros(2)
    expected = [point.copy()]
    for _ in range(15):
        grad = _quadratic_grad(point) + decay * point
        velocity = beta * velocity + (1 - beta) * grad
        point = point - lr * velocity
        expected.append(point.copy())

    x = torch.tensor([1.5, -1.2], dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer(f"momentum:lr={lr},momentum={beta},weight_decay={decay}", [x])
    got = [x.detach().numpy().copy()]
    for _ in range(15):
        optimizer.zero_grad()
        (0.5 * (x[0] ** 2 + 4 * x[1] ** 2)).backward()
        optimizer.step()
        got.append(x.detach().numpy().copy())
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=0, atol=1e-14)


def test_ema_momentum_differs_from_torch_dampened_sgd_only_by_the_first_buffer() -> None:
    def path(spec: str) -> torch.Tensor:
        x = torch.tensor([1.5, -1.2], dtype=torch.float64, requires_grad=True)
        optimizer = build_optimizer(spec, [x])
        points = []
        for _ in range(5):
            optimizer.zero_grad()
            (0.5 * (x[0] ** 2 + 4 * x[1] ** 2)).backward()
            optimizer.step()
            points.append(x.detach().clone())
        return torch.stack(points)

    ours = path("momentum:lr=0.1,momentum=0.9")
    torch_dampened = path("sgd:lr=0.1,momentum=0.9,dampening=0.9")
    first_ours = torch.tensor([1.5, -1.2], dtype=torch.float64) - ours[0]
    first_torch = torch.tensor([1.5, -1.2], dtype=torch.float64) - torch_dampened[0]
    torch.testing.assert_close(first_torch, first_ours / (1 - 0.9))
    assert not torch.allclose(ours, torch_dampened)


def _seed_full_adagrad(grads: np.ndarray, eps: float) -> np.ndarray:
    """Seed 004's method: inv(sqrtm(G_t) + eps I) @ g_t."""
    outer_sum = np.zeros((grads.shape[1], grads.shape[1]))
    updates = []
    for grad in grads:
        outer_sum += np.outer(grad, grad)
        inverse = linalg.inv(linalg.sqrtm(outer_sum).real + np.eye(len(outer_sum)) * eps)
        updates.append(inverse @ grad)
    return np.array(updates)


# scipy warns that G_1 = g g^T is singular; the seed's eps keeps the inverse defined.
pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")


def test_full_matrix_adagrad_updates_match_the_seed_method() -> None:
    rng = np.random.RandomState(32)
    grads = rng.rand(8, 2) * np.array([0.5, 2.0])
    expected = _seed_full_adagrad(grads, 1e-5)
    got = full_matrix_adagrad_updates(torch.from_numpy(grads), eps=1e-5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert np.isclose(np.linalg.norm(got[0]), 1.0, atol=1e-4)


def test_full_matrix_adagrad_updates_high_dimension_fast() -> None:
    rng = np.random.RandomState(32)
    grads = rng.rand(8, 256) * rng.lognormal(size=256)
    expected = _seed_full_adagrad(grads[:3], 1e-5)
    start = time.perf_counter()
    got = full_matrix_adagrad_updates(torch.from_numpy(grads), eps=1e-5)
    elapsed = time.perf_counter() - start
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got[:3].numpy(), expected, rtol=0, atol=1e-6 * scale)
    assert elapsed < 1.0, f"full_matrix_adagrad_updates took {elapsed:.2f}s for (8, 256)"


def test_full_adagrad_optimizer_matches_the_seed_method_along_a_path() -> None:
    eps, lr = 1e-5, 0.5
    point = np.array([1.5, -1.2])
    outer_sum = np.zeros((2, 2))
    expected = []
    for _ in range(10):
        grad = _quadratic_grad(point)
        outer_sum += np.outer(grad, grad)
        point = point - lr * linalg.inv(linalg.sqrtm(outer_sum).real + eps * np.eye(2)) @ grad
        expected.append(point.copy())
    x = torch.tensor([1.5, -1.2], dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer(f"adagrad_full:lr={lr},eps={eps}", [x])
    got = []
    for _ in range(10):
        optimizer.zero_grad()
        (0.5 * (x[0] ** 2 + 4 * x[1] ** 2)).backward()
        optimizer.step()
        got.append(x.detach().numpy().copy())
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6, atol=1e-7)
    assert not get_entry("full_adagrad").elementwise


class HandWrittenSGD(TeachingOptimizer):
    """The docstring's pattern: hyperparameters in __init__, update in update_param."""

    def __init__(self, params, lr=0.1):  # type: ignore[no-untyped-def]
        super().__init__(params, lr=lr)

    def update_param(self, p: torch.Tensor) -> None:
        p.add_(p.grad, alpha=-self.lr)


def test_teaching_optimizer_equals_torch_sgd_step_by_step() -> None:
    torch.manual_seed(0)
    model_ours = torch.nn.Linear(3, 2).double()
    model_torch = torch.nn.Linear(3, 2).double()
    model_torch.load_state_dict(model_ours.state_dict())
    ours = HandWrittenSGD(model_ours.parameters(), lr=0.05)
    reference = torch.optim.SGD(model_torch.parameters(), lr=0.05)
    inputs = torch.randn(16, 3, dtype=torch.float64)
    for _ in range(10):
        for model, optimizer in [(model_ours, ours), (model_torch, reference)]:
            optimizer.zero_grad()
            model(inputs).pow(2).mean().backward()
            optimizer.step()
        for a, b in zip(model_ours.parameters(), model_torch.parameters(), strict=True):
            assert torch.equal(a, b)
    assert ours.state_dict()["param_groups"][0]["lr"] == 0.05


def test_teaching_optimizer_without_update_param_says_so() -> None:
    x = torch.zeros(2, requires_grad=True)
    optimizer = TeachingOptimizer([x], lr=0.1)
    x.sum().backward()
    with pytest.raises(NotImplementedError, match="update_param"):
        optimizer.step()
