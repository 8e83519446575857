"""The seed-003 regression surfaces: exact minimisers and honest mini-batch noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from optiscope import surfaces
from optiscope.errors import SpecError
from optiscope.surfaces.regression import make_data


def _data(n_samples: int = 100, data_seed: int = 0, noise_std: float = 0.5):
    x, y = make_data(n_samples, data_seed, noise_std)
    return x.numpy(), y.numpy()


def _mse(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    residuals = y[None, :] - theta[:, :1] - theta[:, 1:2] * x[None, :]
    return (residuals**2).mean(axis=1)


def test_data_follow_the_line() -> None:
    x, y = _data(n_samples=20_000, noise_std=0.5)
    assert x.min() >= -1 and x.max() <= 1
    slope, intercept = np.polyfit(x, y, 1)
    assert abs(intercept - 2) < 0.03 and abs(slope - 3) < 0.03
    assert np.std(y - 2 - 3 * x) == pytest.approx(0.5, rel=0.03)


def test_mse_minimum_is_least_squares_and_values_match_numpy() -> None:
    surface = surfaces.get("regression_mse")
    x, y = _data()
    design = np.stack([np.ones_like(x), x], axis=1)
    expected, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(surface.minima[0], expected, rtol=1e-12)
    assert surface.minimum_value == pytest.approx(_mse(expected[None], x, y)[0], rel=1e-12)
    thetas = np.random.default_rng(0).uniform(-3, 7, size=(30, 2))
    np.testing.assert_allclose(surface(torch.tensor(thetas)).numpy(), _mse(thetas, x, y), rtol=1e-12)


def test_rmse_is_sqrt_of_mse_pointwise() -> None:
    mse, rmse = surfaces.get("regression_mse"), surfaces.get("regression_rmse")
    points = torch.tensor(np.random.default_rng(1).uniform(-3, 7, size=(40, 2)))
    torch.testing.assert_close(rmse(points), mse(points).sqrt(), rtol=1e-14, atol=0)
    assert rmse.minima == mse.minima


def test_mae_minimum_beats_every_line_through_two_samples() -> None:
    # An L1 fit has an optimal vertex: a line through two data points. Enumerate them all.
    surface = surfaces.get("regression_mae")
    x, y = _data()
    pairs = np.array(list(itertools.combinations(range(len(x)), 2)))
    i, j = pairs[:, 0], pairs[:, 1]
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    lines = np.stack([y[i] - slopes * x[i], slopes], axis=1)
    residuals = y[None, :] - lines[:, :1] - lines[:, 1:2] * x[None, :]
    best = np.abs(residuals).mean(axis=1).min()
    assert surface.minimum_value == pytest.approx(best, abs=1e-9)
    assert float(surface(torch.tensor(surface.minima[0], dtype=torch.float64))) == pytest.approx(
        best, abs=1e-9
    )


@pytest.mark.parametrize("name", ["regression_mse", "regression_rmse", "regression_mae"])
def test_minibatches_are_seeded_by_the_generator(name: str) -> None:
    surface = surfaces.get(name, batch_size=10)
    points = torch.tensor([[0.0, 0.0], [2.0, 3.0]], dtype=torch.float64)

    def draw(seed: int) -> torch.Tensor:
        return surface.stochastic(points, torch.Generator().manual_seed(seed))

    assert torch.equal(draw(5), draw(5))
    assert not torch.equal(draw(5), draw(6))
    assert not torch.equal(draw(5)[0], surface(points)[0])


@pytest.mark.parametrize("name", ["regression_mse", "regression_mae"])
def test_minibatch_loss_is_unbiased(name: str) -> None:
    # Mean of 3000 mini-batch losses vs the full loss, within 4 empirical standard errors.
    surface = surfaces.get(name, batch_size=10)
    points = torch.tensor([[0.0, 0.0], [1.0, 4.0]], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([surface.stochastic(points, generator) for _ in range(3000)])
    standard_error = draws.std(dim=0) / len(draws) ** 0.5
    gap = (draws.mean(dim=0) - surface(points)).abs()
    assert (gap <= 4 * standard_error).all(), f"gap {gap} vs standard error {standard_error}"


def test_minibatch_gradient_is_noisy_and_full_batch_has_none() -> None:
    surface = surfaces.get("regression_mse:batch_size=5")
    point = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    generator = torch.Generator().manual_seed(0)
    gradients = []
    for _ in range(2):
        (gradient,) = torch.autograd.grad(surface.stochastic(point, generator), point)
        gradients.append(gradient)
    assert not torch.equal(gradients[0], gradients[1])
    assert surfaces.get("regression_mse:batch_size=0").stochastic is None
    full = surfaces.get("regression_mse", batch_size=100)
    points = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(full.stochastic(points, generator), full(points))


def test_options_are_validated_and_recorded() -> None:
    surface = surfaces.get("regression_rmse:n_samples=50,data_seed=3,noise_std=0.1,batch_size=7")
    assert surface.options == {"n_samples": 50, "data_seed": 3, "noise_std": 0.1, "batch_size": 7}
    with pytest.raises(SpecError, match="exceeds"):
        surfaces.get("regression_mse:n_samples=5,batch_size=10")
    with pytest.raises(SpecError, match="integer"):
        surfaces.get("regression_mse:n_samples=2.5")
    other = surfaces.get("regression_mse:data_seed=1")
    assert other.minima != surfaces.get("regression_mse").minima


def test_zero_noise_rmse_has_finite_gradient_at_the_exact_fit() -> None:
    surface = surfaces.get("regression_rmse:noise_std=0")
    assert surface.minima[0] == pytest.approx((2.0, 3.0), abs=1e-12)
    point = torch.tensor([2.0, 3.0], dtype=torch.float64, requires_grad=True)
    surface(point).backward()
    assert torch.isfinite(point.grad).all()
