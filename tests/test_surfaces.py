"""Conformance battery for every registered surface, plus independent NumPy references."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from optiscope import surfaces
from optiscope.errors import SpecError, UnknownNameError
from optiscope.surfaces import Surface
from optiscope.surfaces.base import Point

# Surfaces with kinks, where finite differences and autograd may legitimately disagree;
# away from the kinks (detected by one-sided differences) they must agree like the others.
NON_SMOOTH = {
    "bukin6": "sqrt(|y - x^2/100|) and |x + 10| have kinks; minimum sits on both",
    "ackley": "cone tip at the minimum (the norm is not differentiable at 0)",
    "pathological": "0.01|w1| has a kink at w1 = 0",
    "regression_mae": "piecewise linear in (theta0, theta1); minimum at a vertex",
}
ALL_NAMES = surfaces.names()
RNG_SEED = 1234


def _random_points(surface: Surface, count: int, seed: int = RNG_SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    (x_min, x_max), (y_min, y_max) = surface.domain
    return np.stack([rng.uniform(x_min, x_max, count), rng.uniform(y_min, y_max, count)], axis=1)


def _value(surface: Surface, point: np.ndarray | Point) -> float:
    return float(surface(torch.tensor(np.asarray(point, dtype=np.float64))))


def _autograd(surface: Surface, point: np.ndarray | Point) -> np.ndarray:
    tensor = torch.tensor(np.asarray(point, dtype=np.float64), requires_grad=True)
    surface(tensor).backward()
    return tensor.grad.numpy()


def test_public_names_import() -> None:
    for name in surfaces.__all__:
        assert hasattr(surfaces, name), name


def test_catalogue_holds_the_brief() -> None:
    expected = {
        *(f"f{i}" for i in range(6)),
        "pathological",
        "regression_mse",
        "regression_rmse",
        "regression_mae",
        "rosenbrock",
        "rastrigin",
        "beale",
        "booth",
        "himmelblau",
        "three_hump_camel",
        "six_hump_camel",
        "goldstein_price",
        "branin",
        "ackley",
        "styblinski_tang",
        "mccormick",
        "easom",
        "bukin6",
        "saddle",
        "monkey_saddle",
        "ill_conditioned",
    }
    assert expected <= set(ALL_NAMES)
    assert [surface.name for surface in surfaces.list_surfaces()] == ALL_NAMES


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_contract(name: str, dtype: torch.dtype) -> None:
    surface = surfaces.get(name)
    for leading in [(7,), (3, 4), ()]:
        generator = torch.Generator().manual_seed(0)
        unit = torch.rand((*leading, 2), generator=generator, dtype=torch.float64)
        lows = torch.tensor([surface.domain[0][0], surface.domain[1][0]], dtype=torch.float64)
        highs = torch.tensor([surface.domain[0][1], surface.domain[1][1]], dtype=torch.float64)
        points = (lows + unit * (highs - lows)).to(dtype)
        losses = surface(points)
        assert losses.shape == leading, f"{name}: {leading} -> {tuple(losses.shape)}"
        assert losses.dtype == dtype
        assert torch.isfinite(losses).all()
        if surface.stochastic is not None:
            stochastic = surface.stochastic(points, torch.Generator().manual_seed(1))
            assert stochastic.shape == leading and stochastic.dtype == dtype
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        surface(torch.zeros(3, 3))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_gradients_match_finite_differences(name: str) -> None:
    surface = surfaces.get(name)
    smooth = name not in NON_SMOOTH
    checked = 0
    for point in _random_points(surface, 12):
        analytic = _autograd(surface, point)
        for axis in range(2):
            step = 1e-6 * max(1.0, abs(point[axis]))
            offset = np.zeros(2)
            offset[axis] = step
            up, mid, down = (_value(surface, point + s * offset) for s in (1, 0, -1))
            forward, backward = (up - mid) / step, (mid - down) / step
            central = (up - down) / (2 * step)
            if not smooth and abs(forward - backward) > 1e-3 * (1 + abs(central)):
                continue  # a kink inside the stencil
            tolerance = 1e-5 * (1 + abs(central)) + 1e-9 * (1 + abs(mid)) / step
            assert abs(analytic[axis] - central) <= tolerance, (
                f"{name} at {point}, axis {axis}: autograd {analytic[axis]} vs FD {central}"
            )
            checked += 1
    assert checked >= 18, f"{name}: only {checked} derivatives away from kinks"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_metadata(name: str) -> None:
    surface = surfaces.get(name)
    (x_min, x_max), (y_min, y_max) = surface.domain
    assert x_min < x_max and y_min < y_max
    for point in (surface.start, *surface.starts, *surface.minima):
        assert x_min <= point[0] <= x_max and y_min <= point[1] <= y_max, (name, point)
    assert surface.name == name
    assert surface.formula and surface.description
    json.dumps(surface.describe())
    xs, ys, losses = surface.grid(9)
    assert xs.shape == (9,) and ys.shape == (9,) and losses.shape == (9, 9)


# Surfaces without a global minimum: saddles, or unbounded below on the plane.
NO_GLOBAL_MINIMUM = {"f1", "f2", "f3", "pathological", "saddle", "monkey_saddle"}


def test_surfaces_without_global_minimum_are_declared() -> None:
    declared = {s.name for s in surfaces.list_surfaces() if s.minimum_value is None}
    assert declared == NO_GLOBAL_MINIMUM


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in NO_GLOBAL_MINIMUM])
def test_known_minima(name: str) -> None:
    surface = surfaces.get(name)
    values = [_value(surface, point) for point in surface.minima]
    assert values[0] == pytest.approx(surface.minimum_value, abs=1e-6)
    assert min(values) >= surface.minimum_value - 1e-6
    # No random point of the domain beats the declared global minimum.
    grid_min = min(_value(surface, point) for point in _random_points(surface, 400))
    assert grid_min >= surface.minimum_value - 1e-9


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in NON_SMOOTH])
def test_gradient_vanishes_at_minima(name: str) -> None:
    surface = surfaces.get(name)
    for point in surface.minima:
        gradient = _autograd(surface, point)
        scale = 1 + abs(_value(surface, point))
        assert np.abs(gradient).max() <= 1e-7 * scale, f"{name} at {point}: gradient {gradient}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_pickle_round_trip(name: str) -> None:
    surface = surfaces.get(name)
    restored = pickle.loads(pickle.dumps(surface))
    points = torch.tensor(_random_points(surface, 5))
    assert torch.equal(restored(points), surface(points))


def test_non_smooth_points_give_finite_subgradients() -> None:
    for name in ("bukin6", "ackley"):
        surface = surfaces.get(name)
        gradient = _autograd(surface, surface.minima[0])
        assert np.isfinite(gradient).all() and np.abs(gradient).max() == 0.0, (name, gradient)


# --- independent NumPy references -------------------------------------------------------


def _xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return p[:, 0], p[:, 1]


def _rosenbrock(p):
    x, y = _xy(p)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rastrigin(p):
    return 20 + np.sum(p * p - 10 * np.cos(2 * np.pi * p), axis=1)


def _beale(p):
    x, y = _xy(p)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


def _booth(p):
    x, y = _xy(p)
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _himmelblau(p):
    x, y = _xy(p)
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _three_hump_camel(p):
    x, y = _xy(p)
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def _six_hump_camel(p):
    x, y = _xy(p)
    return 4 * x**2 - 2.1 * x**4 + x**6 / 3 + x * y - 4 * y**2 + 4 * y**4


def _goldstein_price(p):
    x, y = _xy(p)
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def _branin(p):
    x, y = _xy(p)
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * np.cos(x) + 10


def _ackley(p):
    x, y = _xy(p)
    return (
        -20 * np.exp(-0.2 * np.sqrt(0.5 * (x * x + y * y)))
        - np.exp(0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y)))
        + np.e
        + 20
    )


def _styblinski_tang(p):
    return 0.5 * np.sum(p**4 - 16 * p**2 + 5 * p, axis=1)


def _mccormick(p):
    x, y = _xy(p)
    return np.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


def _easom(p):
    x, y = _xy(p)
    return -np.cos(x) * np.cos(y) * np.exp(-((x - np.pi) ** 2 + (y - np.pi) ** 2))


def _bukin6(p):
    x, y = _xy(p)
    return 100 * np.sqrt(np.abs(y - 0.01 * x * x)) + 0.01 * np.abs(x + 10)


def _saddle(p):
    x, y = _xy(p)
    return x * x - y * y


def _monkey_saddle(p):
    x, y = _xy(p)
    return x**3 - 3 * x * y**2


def _ill_conditioned(p, condition=10.0, angle=0.0):
    theta = np.radians(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    matrix = rotation @ np.diag([1.0, condition]) @ rotation.T
    return 0.5 * np.einsum("ni,ij,nj->n", p, matrix, p)


def _seed(formula):
    return lambda p: formula(*_xy(p))


def _pathological(p):
    w1, w2 = _xy(p)
    return np.tanh(w1) ** 2 + 0.01 * np.abs(w1) + 1 / (1 + np.exp(-w2))


REFERENCES = {
    "rosenbrock": _rosenbrock,
    "rastrigin": _rastrigin,
    "beale": _beale,
    "booth": _booth,
    "himmelblau": _himmelblau,
    "three_hump_camel": _three_hump_camel,
    "six_hump_camel": _six_hump_camel,
    "goldstein_price": _goldstein_price,
    "branin": _branin,
    "ackley": _ackley,
    "styblinski_tang": _styblinski_tang,
    "mccormick": _mccormick,
    "easom": _easom,
    "bukin6": _bukin6,
    "saddle": _saddle,
    "monkey_saddle": _monkey_saddle,
    "ill_conditioned": _ill_conditioned,
    "f0": _seed(lambda x, y: (x / 10) ** 2 + (y / 10) ** 2),
    "f1": _seed(lambda x, y: (x**2 + y**2 + y / 2 + 0.06 * (x + 1) ** 3 + (y - 1) ** 3 / 10) / 400),
    "f2": _seed(lambda x, y: (x * x - y * y) / 80),
    "f3": _seed(lambda x, y: (x * x / 2 - y * y / 2 - 0.75 * x * y) / 60),
    "f4": _seed(lambda x, y: (2 - np.sin(x / 5) - np.cos(y / 10)) / 2),
    "f5": _seed(lambda x, y: (x * x / 64 + y * y / 144) / 2),
    "pathological": _pathological,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy_reference(name: str) -> None:
    surface = surfaces.get(name)
    points = _random_points(surface, 50)
    expected = REFERENCES[name](points)
    actual = surface(torch.tensor(points)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12, err_msg=name)


def test_ill_conditioned_options_match_reference_and_spectrum() -> None:
    surface = surfaces.get("ill_conditioned:condition=100,angle=30")
    assert surface.options == {"condition": 100.0, "angle": 30.0}
    points = _random_points(surface, 20)
    expected = _ill_conditioned(points, condition=100.0, angle=30.0)
    np.testing.assert_allclose(surface(torch.tensor(points)).numpy(), expected, rtol=1e-10)
    hessian = torch.func.hessian(surface.function)(torch.zeros(2, dtype=torch.float64))
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    np.testing.assert_allclose(eigenvalues.numpy(), [1.0, 100.0], rtol=1e-12)
    flat = eigenvectors[:, 0].numpy()
    assert abs(math.degrees(math.atan2(flat[1], flat[0])) % 180 - 30.0) < 1e-9


def test_multiple_global_minima() -> None:
    himmelblau = surfaces.get("himmelblau")
    assert len(himmelblau.minima) == 4
    assert all(abs(_value(himmelblau, p)) < 1e-20 for p in himmelblau.minima)
    branin = surfaces.get("branin")
    assert len(branin.minima) == 3
    for point in branin.minima:
        assert _value(branin, point) == pytest.approx(5 / (4 * math.pi), abs=1e-12)


def test_seed_surface_details() -> None:
    f1 = surfaces.get("f1")
    hessian = torch.func.hessian(f1.function)(torch.tensor(f1.minima[0], dtype=torch.float64))
    assert (torch.linalg.eigvalsh(hessian) > 0).all(), "f1's listed point is a local minimum"
    assert f1.minimum_value is None, "f1 is unbounded below (cubic terms): no global minimum"
    assert f1.minima[0] == pytest.approx((-0.0767201168385, -2 / 3), abs=1e-12)
    f4 = surfaces.get("f4")
    _, _, losses = f4.grid(401)
    assert float(losses.min()) >= f4.minimum_value - 1e-12
    assert float(losses.min()) <= 1e-4
    for name in ("f2", "f3"):
        saddle = surfaces.get(name)
        assert saddle.minima == () and saddle.minimum_value is None
        assert "saddle" in saddle.description
    f3 = surfaces.get("f3")
    assert f3.start == (-9.0, 2.5) and f3.starts == ((-9.0, -2.5),)
    assert surfaces.get("f0").view == (50.0, -70.0) and surfaces.get("f5").zlim == (-1.5, 1.3)
    assert surfaces.get("pathological").start == (7.0, 7.0)


# --- registry ---------------------------------------------------------------------------


def test_get_is_case_insensitive_and_accepts_dashes() -> None:
    assert surfaces.get("Rosenbrock").name == "rosenbrock"
    assert surfaces.get("SIX-HUMP-CAMEL").name == "six_hump_camel"


def test_spec_and_keyword_options_merge() -> None:
    surface = surfaces.get("rosenbrock:a=2", b=10)
    assert surface.options == {"a": 2.0, "b": 10.0}
    assert surface.minima == ((2.0, 4.0),)
    assert _value(surface, (2.0, 4.0)) == 0.0
    assert surfaces.get("rosenbrock:a=2", a=3).minima == ((3.0, 9.0),)


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="rosenbrock"):
        surfaces.get("rosenbrok")
    with pytest.raises(UnknownNameError, match="himmelblau"):
        surfaces.get("himelblau")


def test_unknown_option_lists_allowed() -> None:
    with pytest.raises(SpecError, match=r"condition.*angle.*noise"):
        surfaces.get("ill_conditioned:conditon=3")
    with pytest.raises(SpecError, match="must be > 0"):
        surfaces.get("ill_conditioned:condition=-1")


def test_register_and_from_callable() -> None:
    def factory(scale: float = 1.0) -> Surface:
        return surfaces.from_callable(
            lambda p: scale * (p**2).sum(-1),
            name="my_bowl",
            minima=((0.0, 0.0),),
            minimum_value=0.0,
        )

    surfaces.register("My_Bowl", factory, overwrite=True)
    try:
        with pytest.raises(SpecError, match="already registered"):
            surfaces.register("my_bowl", factory)
        surface = surfaces.get("my_bowl:scale=3")
        assert _value(surface, (1.0, 2.0)) == 15.0
        assert surface.options == {}
        assert surface.start == (4.0, 4.0)
        noisy = surfaces.get("my_bowl", noise="lookup")
        assert noisy.options["noise"] == "lookup"
    finally:
        surfaces.registry._REGISTRY.pop("my_bowl", None)
    with pytest.raises(SpecError, match=r"expected \(3,\)"):
        surfaces.from_callable(lambda p: p, name="bad")
    with pytest.raises(SpecError, match="invalid surface name"):
        surfaces.register("bad name!", factory)


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("noise", ["none", "lookup", "smooth"])
def test_torch_func_grad_and_vmap_match_autograd(name: str, noise: str) -> None:
    surface = surfaces.get(name, noise=noise)
    points = torch.tensor(_random_points(surface, 4))
    batched = torch.vmap(torch.func.grad(surface.function))(points)
    expected = torch.stack([torch.tensor(_autograd(surface, point)) for point in points.numpy()])
    torch.testing.assert_close(batched, expected, rtol=1e-12, atol=1e-12)
