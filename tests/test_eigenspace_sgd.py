"""Seed 001's eq. (1) optimizer against a dense reference on a quadratic with a known Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope.optimizers import build_optimizer


def _quadratic(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(n, n)))
    values = np.array([10.0, 4.0, 1.0, 0.5, 0.2, 0.1])[:n]
    return basis @ np.diag(values) @ basis.T, basis[:, :2]


def _step(optimizer: torch.optim.Optimizer, x: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    optimizer.zero_grad(set_to_none=True)
    loss = 0.5 * x @ hessian @ x
    (grad,) = torch.autograd.grad(loss, x, create_graph=True)
    x.grad = grad
    optimizer.step()
    return grad.detach()


@pytest.mark.parametrize("lam", [0.9, 0.2])
def test_the_update_is_eq1_with_the_top_eigenspace(lam: float) -> None:
    hessian_np, top = _quadratic()
    hessian = torch.tensor(hessian_np)
    x = torch.tensor(np.linspace(1.0, -1.0, 6), requires_grad=True)
    optimizer = build_optimizer(f"eigenspace_sgd:lr=0.01,lam={lam},k=2,power_iters=60", [x])
    before = x.detach().clone()
    grad = _step(optimizer, x, hessian).numpy()
    projector = top @ top.T
    expected = before.numpy() - 0.01 * (lam * projector @ grad + (1 - lam) * (grad - projector @ grad))
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=0, atol=1e-10)
    state = optimizer.state[x]
    np.testing.assert_allclose(state["eigenvalues"].numpy(), [10.0, 4.0], rtol=1e-8)
    assert state["hvps"] == 2 * 61


def test_lam_one_half_is_sgd_at_half_the_step() -> None:
    hessian = torch.tensor(_quadratic()[0])
    x = torch.ones(6, dtype=torch.float64, requires_grad=True)
    y = torch.ones(6, dtype=torch.float64, requires_grad=True)
    ours = build_optimizer("eigenspace_sgd:lr=0.1,lam=0.5,k=1,refresh_every=3", [x])
    sgd = torch.optim.SGD([y], lr=0.05)
    for _ in range(7):
        _step(ours, x, hessian)
        _step(sgd, y, hessian)
    np.testing.assert_allclose(x.detach().numpy(), y.detach().numpy(), atol=1e-12)


def test_warm_started_refreshes_track_the_eigenspace_and_count_their_cost() -> None:
    hessian_np, top = _quadratic()
    x = torch.ones(6, dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer("eigenspace_sgd:lr=0.01,lam=0.9,k=1,refresh_every=2,power_iters=3", [x])
    for _ in range(40):
        _step(optimizer, x, torch.tensor(hessian_np))
    basis = optimizer.state[x]["basis"].numpy()[:, 0]
    assert abs(basis @ top[:, 0]) > 1 - 1e-8, "20 warm-started refreshes converge to the top eigenvector"
    assert optimizer.state[x]["hvps"] == 20 * 1 * 4


def test_without_create_graph_it_says_what_it_needs() -> None:
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer("eigenspace_sgd:lr=0.1", [x])
    (x @ x).backward()
    with pytest.raises(RuntimeError, match="create_graph=True"):
        optimizer.step()
