"""Seed 004's grid noise: faithful lookup, differentiable interpolation, seeding, structure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optiscope import surfaces
from optiscope.errors import SpecError
from optiscope.surfaces.noise import NoiseField


def _points(count: int, seed: int = 0, low: float = -9.5, high: float = 9.5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(count, 2, generator=generator, dtype=torch.float64)


def _gradient(surface, points: torch.Tensor) -> torch.Tensor:
    points = points.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(surface(points).sum(), points)
    return gradient


def _bilinear_resize(table: np.ndarray, size: int) -> np.ndarray:
    """TF2 ``resize(method="bilinear")``: half-pixel centres, edge samples clamped."""

    def axis_weights(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0.0)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, source - low

    rows_low, rows_high, row_w = axis_weights(table.shape[0])
    cols_low, cols_high, col_w = axis_weights(table.shape[1])
    rows = table[rows_low] * (1 - row_w[:, None]) + table[rows_high] * row_w[:, None]
    return rows[:, cols_low] * (1 - col_w[None, :]) + rows[:, cols_high] * col_w[None, :]


def _seed_tables(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed 004's recipe written out: r coarse 25x25 upsampled, c fine times |x||y|/100."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.randn(25, 25, generator=generator, dtype=torch.float64).numpy()
    fine = torch.randn(200, 200, generator=generator, dtype=torch.float64).numpy()
    nodes = -10 + 0.1 * np.arange(200)
    return _bilinear_resize(coarse, 200), fine * np.abs(nodes)[:, None] * np.abs(nodes)[None, :] / 100


def test_f0_with_lookup_noise_matches_the_seed_formula() -> None:
    surface = surfaces.get("f0:noise=lookup,noise_seed=7")
    r, c = _seed_tables(7)
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 200, size=(50, 2))
    cells[:4] = [[0, 0], [199, 199], [0, 199], [120, 37]]
    centres = -10 + 0.1 * (cells + 0.5)  # inside cell (ix, iy), away from its edges
    x, y = centres[:, 0], centres[:, 1]
    expected = (x / 10) ** 2 + (y / 10) ** 2 + 0.04 * r[cells[:, 0], cells[:, 1]]
    expected += 0.01 * c[cells[:, 0], cells[:, 1]]
    actual = surface(torch.tensor(centres)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-14)


def test_lookup_keeps_the_smooth_gradient_exactly_but_changes_values() -> None:
    for name in ("f3", "rosenbrock", "regression_mse"):
        smooth = surfaces.get(name)
        noisy = surfaces.get(name, noise="lookup", noise_seed=1)
        (x_min, x_max), (y_min, y_max) = smooth.domain
        unit = _points(64, low=0.0, high=1.0)
        points = torch.stack([x_min + (x_max - x_min) * unit[:, 0], y_min + (y_max - y_min) * unit[:, 1]], -1)
        assert torch.equal(_gradient(noisy, points), _gradient(smooth, points)), name
        assert (noisy(points) != smooth(points)).all(), name


def test_smooth_mode_changes_the_gradient_and_agrees_with_lookup_at_nodes() -> None:
    smooth = surfaces.get("f4")
    felt = surfaces.get("f4", noise="smooth", noise_seed=1)
    points = _points(64)
    difference = (_gradient(felt, points) - _gradient(smooth, points)).abs()
    assert difference.min() > 0 and difference.max() > 1e-3
    field = NoiseField(((-10.0, 10.0), (-10.0, 10.0)), seed=1)
    exact_nodes = torch.stack([field.node_coordinates(0)[[3, 100]], field.node_coordinates(1)[[5, 150]]], -1)
    for read_lookup, read_interp in zip(
        field.lookup(exact_nodes + 1e-9), field.interpolate(exact_nodes), strict=True
    ):
        torch.testing.assert_close(read_interp, read_lookup, rtol=0, atol=1e-9)


def test_same_seed_same_noise_different_seed_different_noise() -> None:
    points = _points(32)
    for mode in ("lookup", "smooth"):
        first = surfaces.get(f"f1:noise={mode},noise_seed=3")(points)
        again = surfaces.get("f1", noise=mode, noise_seed=3)(points)
        other = surfaces.get("f1", noise=mode, noise_seed=4)(points)
        assert torch.equal(first, again)
        assert not torch.allclose(first, other)


def test_coarse_noise_is_correlated_fine_noise_is_not() -> None:
    r, c = NoiseField(((-10.0, 10.0), (-10.0, 10.0)), seed=0).tables()
    neighbours_r = np.corrcoef(r[:-1, :].flatten(), r[1:, :].flatten())[0, 1]
    neighbours_c = np.corrcoef(c[:-1, :].flatten(), c[1:, :].flatten())[0, 1]
    far_r = np.corrcoef(r[:-40, :].flatten(), r[40:, :].flatten())[0, 1]
    assert neighbours_r > 0.95, f"coarse noise neighbour correlation {neighbours_r}"
    assert abs(neighbours_c) < 0.05, f"fine noise neighbour correlation {neighbours_c}"
    assert abs(far_r) < 0.2, f"coarse noise correlation 40 cells apart {far_r}"
    assert float(r.std()) == pytest.approx(0.7, abs=0.2)  # bilinear smoothing shrinks N(0, 1)


def test_fine_noise_grows_towards_the_corners() -> None:
    _, c = NoiseField(((-10.0, 10.0), (-10.0, 10.0)), seed=0).tables()
    assert float(c[90:110, 90:110].abs().max()) < 0.05
    assert float(c[:20, :20].std()) > 0.6


def test_metadata_reflects_noise() -> None:
    surface = surfaces.get("f4:noise=lookup,noise_seed=3")
    assert surface.name == "f4+lookup_noise"
    assert surface.formula.endswith("+ noise(lookup)")
    assert surface.options == {
        "noise": "lookup",
        "noise_seed": 3,
        "noise_scale": 1.0,
        "noise_coefficients": [0.05, 0.01],
    }
    assert surface.minimum_value is None and surface.minima == surfaces.get("f4").minima
    assert surfaces.get("f4:noise=none") == surfaces.get("f4")
    assert surfaces.get("f4", noise=None) == surfaces.get("f4")


def test_default_coefficients_scale_with_the_surface_range() -> None:
    base = surfaces.get("booth")
    _, _, losses = base.grid(200)
    value_range = float(losses.max() - losses.min())
    noisy = surfaces.get("booth", noise="smooth", noise_scale=2.0)
    r_coeff, c_coeff = noisy.options["noise_coefficients"]
    assert r_coeff == pytest.approx(2 * 0.02 * value_range)
    assert c_coeff == pytest.approx(2 * 0.005 * value_range)
    assert surfaces.get("f0", noise="lookup", noise_scale=0.5).options["noise_coefficients"] == [
        0.02,
        0.005,
    ]


def test_noise_works_in_float32_outside_the_domain_and_on_stochastic_surfaces() -> None:
    surface = surfaces.get("f2", noise="smooth")
    points = torch.tensor([[0.0, 0.0], [50.0, -50.0], [-10.0, 10.0]], dtype=torch.float32)
    values = surface(points)
    assert values.dtype == torch.float32 and torch.isfinite(values).all()
    lookup = surfaces.get("f2", noise="lookup")
    assert torch.isfinite(lookup(points)).all()
    regression = surfaces.get("regression_mae", noise="lookup")
    generator = torch.Generator().manual_seed(0)
    assert regression.stochastic(torch.zeros(4, 2), generator).shape == (4,)


def test_bad_noise_options() -> None:
    with pytest.raises(SpecError, match="lookup"):
        surfaces.get("f0:noise=wobbly")
    with pytest.raises(SpecError, match="noise_scale"):
        surfaces.get("f0", noise="lookup", noise_scale=-1)
    with pytest.raises(SpecError, match="noise_seed"):
        surfaces.get("f0", noise="lookup", noise_seed=1.5)


def test_with_noise_direct_call_uses_seed_coefficients() -> None:
    noisy = surfaces.with_noise(surfaces.get("f3"), "smooth", seed=2)
    assert noisy.options["noise_coefficients"] == [0.05, 0.01]
    assert surfaces.with_noise(surfaces.get("f3"), "none") == surfaces.get("f3")
