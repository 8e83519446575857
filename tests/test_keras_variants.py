"""Seed 004's Keras optimizers (``*_keras``) against the Keras 3 update rules, written out here.

Each reference below is a Keras 3 rule (``keras.optimizers.X.update_step``, after the base
optimizer's decoupled weight decay ``p <- p - p wd lr``) in float64 NumPy with explicit state.
The registry optimizer and the reference are given the same gradient, taken at the library's
iterate, and must agree at every step to ``RTOL`` (max-abs difference relative to the larger of
the iterate's and the start's max-abs entry). Seed 004's acceptance points (LAMB's first step to
the origin, RMSprop's, AdaGrad's and FTRL's first steps) are closed forms of the same rules. The
last section checks that the teaching trace and the path engine run LARS the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optiscope.optimizers import OptimizerSpec, build_optimizer, get_entry, list_entries, parse_spec
from optiscope.paths import run
from optiscope.paths.state_trace import trace_state
from optiscope.surfaces import get as get_surface

RTOL = 1e-12
STEPS = 8

_RNG = np.random.default_rng(20241112)
_M = _RNG.standard_normal((6, 6))
A = _M @ _M.T / 6 + 0.5 * np.eye(6)
B = _RNG.standard_normal(6)
P0_POINT = _RNG.standard_normal((1, 2)) * 3
P0_MATRIX = _RNG.standard_normal((2, 3))
SEED_START = np.array([[9.0, 9.0]])

Reference = Callable[..., np.ndarray]


def quadratic_gradient(p: np.ndarray) -> np.ndarray:
    """Gradient of 0.5 x^T A x + B^T x on the first ``p.size`` coordinates, shaped like ``p``."""
    n = p.size
    return (A[:n, :n] @ p.ravel() + B[:n]).reshape(p.shape)


def decay(p: np.ndarray, lr: float, weight_decay: float) -> np.ndarray:
    """Keras' base optimizer, before every rule: ``p - p * wd * lr``."""
    return p - p * weight_decay * lr


# --- the Keras 3 rules ------------------------------------------------------------------------
# ``ref(p, g, s, t, **hparams) -> next p``; ``s`` starts empty, ``t`` counts from 1.


def rmsprop_ref(p, g, s, t, *, lr, rho, momentum, epsilon, centered, weight_decay):
    p = decay(p, lr, weight_decay)
    s["velocity"] = rho * s.get("velocity", 0.0) + (1 - rho) * g**2
    if centered:
        s["average"] = rho * s.get("average", 0.0) + (1 - rho) * g
        denominator = s["velocity"] - s["average"] ** 2 + epsilon
    else:
        denominator = s["velocity"] + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum > 0:
        s["momentum"] = momentum * s.get("momentum", 0.0) + increment
        return p - s["momentum"]
    return p - increment


def adagrad_ref(p, g, s, t, *, lr, initial_accumulator_value, epsilon, weight_decay):
    p = decay(p, lr, weight_decay)
    s["accumulator"] = s.get("accumulator", initial_accumulator_value) + g**2
    return p - lr * g / np.sqrt(s["accumulator"] + epsilon)


def adadelta_ref(p, g, s, t, *, lr, rho, epsilon, weight_decay):
    p = decay(p, lr, weight_decay)
    s["grads"] = rho * s.get("grads", 0.0) + (1 - rho) * g**2
    delta = -np.sqrt(s.get("deltas", 0.0) + epsilon) * g / np.sqrt(s["grads"] + epsilon)
    s["deltas"] = rho * s.get("deltas", 0.0) + (1 - rho) * delta**2
    return p + lr * delta


def adam_ref(p, g, s, t, *, lr, beta_1, beta_2, epsilon, amsgrad, weight_decay):
    p = decay(p, lr, weight_decay)
    alpha = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
    v = s["v"]
    if amsgrad:
        s["v_max"] = v = np.maximum(s.get("v_max", 0.0), s["v"])
    return p - s["m"] * alpha / (np.sqrt(v) + epsilon)


def adamax_ref(p, g, s, t, *, lr, beta_1, beta_2, epsilon, weight_decay):
    p = decay(p, lr, weight_decay)
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
    return p - lr * s["m"] / ((1 - beta_1**t) * (s["u"] + epsilon))


def nadam_ref(p, g, s, t, *, lr, beta_1, beta_2, epsilon, weight_decay):
    p = decay(p, lr, weight_decay)
    mu = beta_1 * (1 - 0.5 * 0.96**t)
    mu_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
    s["product"] = s.get("product", 1.0) * mu
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
    m_hat = mu_next * s["m"] / (1 - s["product"] * mu_next) + (1 - mu) * g / (1 - s["product"])
    v_hat = s["v"] / (1 - beta_2**t)
    return p - m_hat * lr / (np.sqrt(v_hat) + epsilon)


def lamb_ref(p, g, s, t, *, lr, beta_1, beta_2, epsilon, weight_decay):
    p = decay(p, lr, weight_decay)
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g**2 - s.get("v", 0.0)) * (1 - beta_2)
    update = (s["m"] / (1 - beta_1**t)) / (np.sqrt(s["v"] / (1 - beta_2**t)) + epsilon)
    w_norm, g_norm = np.sqrt(np.sum(p**2)), np.sqrt(np.sum(update**2))
    ratio = w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
    return p - ratio * lr * update


def ftrl_ref(
    p,
    g,
    s,
    t,
    *,
    lr,
    learning_rate_power,
    initial_accumulator_value,
    l1_regularization_strength,
    l2_regularization_strength,
    l2_shrinkage_regularization_strength,
    beta,
    weight_decay,
):
    p = decay(p, lr, weight_decay)
    l1 = l1_regularization_strength
    l2 = l2_regularization_strength + beta / (2.0 * lr)
    accumulator = s.get("accumulator", np.full_like(p, initial_accumulator_value))
    new_accumulator = accumulator + g**2
    shrunk = g + 2 * l2_shrinkage_regularization_strength * p
    sigma = (new_accumulator ** (-learning_rate_power) - accumulator ** (-learning_rate_power)) / lr
    s["linear"] = s.get("linear", 0.0) + shrunk - sigma * p
    quadratic = new_accumulator ** (-learning_rate_power) / lr + 2 * l2
    s["accumulator"] = new_accumulator
    return (np.clip(s["linear"], -l1, l1) - s["linear"]) / quadratic


# Keras 3's constructor defaults (keras.optimizers.X), weight_decay=None read as 0.
KERAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "rmsprop_keras": {"lr": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    "adagrad_keras": {"lr": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "adadelta_keras": {"lr": 0.001, "rho": 0.95, "epsilon": 1e-7},
    "adam_keras": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamw_keras": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamax_keras": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "nadam_keras": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "lamb_keras": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "ftrl_keras": {
        "lr": 0.001,
        "learning_rate_power": -0.5,
        "initial_accumulator_value": 0.1,
        "l1_regularization_strength": 0.0,
        "l2_regularization_strength": 0.0,
        "l2_shrinkage_regularization_strength": 0.0,
        "beta": 0.0,
    },
}
for _name, _defaults in KERAS_DEFAULTS.items():
    _defaults["weight_decay"] = 0.004 if _name == "adamw_keras" else 0.0

REFERENCES: dict[str, Reference] = {
    "rmsprop_keras": rmsprop_ref,
    "adagrad_keras": adagrad_ref,
    "adadelta_keras": adadelta_ref,
    "adam_keras": adam_ref,
    "adamw_keras": adam_ref,
    "adamax_keras": adamax_ref,
    "nadam_keras": nadam_ref,
    "lamb_keras": lamb_ref,
    "ftrl_keras": ftrl_ref,
}

# (name, hyperparameters over the defaults): defaults at a visible lr, then the other branches.
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("rmsprop_keras", {"lr": 0.05}),
    ("rmsprop_keras", {"lr": 0.1, "rho": 0.5, "epsilon": 1e-2}),
    ("rmsprop_keras", {"lr": 0.02, "momentum": 0.7}),
    ("rmsprop_keras", {"lr": 0.02, "centered": True, "momentum": 0.3, "weight_decay": 0.5}),
    ("adagrad_keras", {"lr": 0.5}),
    ("adagrad_keras", {"lr": 0.5, "initial_accumulator_value": 0.0, "epsilon": 1e-3}),
    ("adagrad_keras", {"lr": 0.2, "initial_accumulator_value": 2.0, "weight_decay": 0.3}),
    ("adadelta_keras", {"lr": 1.0}),
    ("adadelta_keras", {"lr": 0.5, "rho": 0.6, "epsilon": 1e-3, "weight_decay": 0.2}),
    ("adam_keras", {"lr": 0.1}),
    ("adam_keras", {"lr": 0.1, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 0.1}),
    ("adam_keras", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.2}),
    ("adamw_keras", {"lr": 0.1}),
    ("adamw_keras", {"lr": 0.1, "weight_decay": 0.5, "amsgrad": True}),
    ("adamax_keras", {"lr": 0.1}),
    ("adamax_keras", {"lr": 0.1, "beta_1": 0.6, "beta_2": 0.8, "epsilon": 0.1, "weight_decay": 0.1}),
    ("nadam_keras", {"lr": 0.1}),
    ("nadam_keras", {"lr": 0.1, "beta_1": 0.6, "beta_2": 0.9, "epsilon": 0.05, "weight_decay": 0.1}),
    ("lamb_keras", {"lr": 0.1}),
    ("lamb_keras", {"lr": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 0.1, "weight_decay": 0.3}),
    ("ftrl_keras", {"lr": 0.5}),
    ("ftrl_keras", {"lr": 0.5, "initial_accumulator_value": 0.0}),
    ("ftrl_keras", {"lr": 0.3, "learning_rate_power": -0.25, "l2_regularization_strength": 0.2}),
    ("ftrl_keras", {"lr": 0.3, "learning_rate_power": 0.0, "beta": 0.5, "weight_decay": 0.1}),
    (
        "ftrl_keras",
        {"lr": 0.5, "l1_regularization_strength": 0.3, "l2_shrinkage_regularization_strength": 0.2},
    ),
]


def side_by_side(
    name: str, hparams: dict[str, Any], p0: np.ndarray, steps: int = STEPS
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(t, library iterate, reference iterate)``; both get the library's gradient."""
    reference, full = REFERENCES[name], {**KERAS_DEFAULTS[name], **hparams}
    param = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    optimizer = build_optimizer(OptimizerSpec(name, dict(hparams)), [param])
    state: dict[str, Any] = {}
    for t in range(1, steps + 1):
        p = param.detach().numpy().copy()
        gradient = quadratic_gradient(p)
        param.grad = torch.tensor(gradient)
        optimizer.step()
        yield t, param.detach().numpy().copy(), reference(p, gradient, state, t, **full)


def assert_close(
    label: str, t: int, got: np.ndarray, want: np.ndarray, scale: float, rtol: float = RTOL
) -> None:
    difference = float(np.max(np.abs(got - want)))
    assert difference <= rtol * scale, (
        f"{label}: step {t}: max |library - Keras formula| = {difference:.3e} > {rtol:g} * {scale:.3g}"
        f"\nlibrary {got.ravel()}\nformula {want.ravel()}"
    )


def _setting_id(setting: tuple[str, dict[str, Any]]) -> str:
    name, hparams = setting
    return name + "-" + ",".join(f"{key}={value}" for key, value in hparams.items())


@pytest.mark.parametrize("p0", [P0_POINT, P0_MATRIX], ids=["point", "matrix"])
@pytest.mark.parametrize("setting", SETTINGS, ids=[_setting_id(s) for s in SETTINGS])
def test_every_step_matches_the_keras_formula(setting: tuple[str, dict[str, Any]], p0: np.ndarray) -> None:
    name, hparams = setting
    moved = 0.0
    for t, got, want in side_by_side(name, hparams, p0):
        scale = max(float(np.max(np.abs(want))), float(np.max(np.abs(p0))))
        assert_close(f"{_setting_id(setting)} on {p0.shape}", t, got, want, scale)
        moved = max(moved, float(np.max(np.abs(got - p0))))
    assert moved > 1e-3, f"{name}: the setting barely moves ({moved:.2e}), so it checks little"


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(["rmsprop_keras", "adagrad_keras", "adam_keras", "nadam_keras", "ftrl_keras"]),
    lr=st.floats(0.01, 2.0),
    decay_rate=st.floats(0.0, 0.99),
    epsilon=st.floats(1e-8, 0.5),
    accumulator=st.floats(0.0, 1.0),
    start=st.lists(st.floats(-5.0, 5.0), min_size=2, max_size=2),
)
def test_random_hyperparameters_match_the_keras_formula(
    name: str, lr: float, decay_rate: float, epsilon: float, accumulator: float, start: list[float]
) -> None:
    hparams: dict[str, Any] = {"lr": lr}
    if name == "rmsprop_keras":
        hparams |= {"rho": decay_rate, "epsilon": epsilon}
    elif name in ("adam_keras", "nadam_keras"):
        hparams |= {"beta_2": decay_rate, "epsilon": epsilon}
    elif name == "adagrad_keras":
        hparams |= {"initial_accumulator_value": accumulator, "epsilon": epsilon}
    else:
        hparams |= {"initial_accumulator_value": accumulator, "l2_regularization_strength": epsilon}
    p0 = np.array([start])
    for t, got, want in side_by_side(name, hparams, p0, steps=4):
        scale = max(float(np.max(np.abs(want))), float(np.max(np.abs(p0))), 1e-3)
        assert_close(f"{name} {hparams} from {start}", t, got, want, scale, rtol=1e-10)


def test_entries_carry_keras_defaults_tags_and_flags() -> None:
    keras_entries = {entry.name for entry in list_entries() if "keras" in entry.tags}
    assert keras_entries == set(KERAS_DEFAULTS), f"keras-tagged entries: {sorted(keras_entries)}"
    for name, defaults in KERAS_DEFAULTS.items():
        entry = get_entry(name)
        assert entry.defaults == defaults, f"{name}: registry defaults {entry.defaults}, Keras {defaults}"
        assert entry.source == "optiscope" and {"keras", "seed004"} <= set(entry.tags), name
        assert entry.elementwise is (name != "lamb_keras"), f"{name}: elementwise={entry.elementwise}"
        assert entry.conformance_exception is None, name
        same_named = name.removesuffix("_keras")
        assert f"'{same_named}'" in entry.notes, f"{name}: the note does not name '{same_named}'"


# --- seed 004's acceptance points on its own surface -----------------------------------------


def first_step(
    spec: str, start: np.ndarray = SEED_START, surface: str = "f0"
) -> tuple[np.ndarray, np.ndarray]:
    """One registry optimizer step from ``start`` on a registry surface: ``(gradient, new point)``."""
    param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    optimizer = build_optimizer(parse_spec(spec), [param])
    get_surface(surface)(param).sum().backward()
    gradient = param.grad.detach().numpy().copy()
    optimizer.step()
    return gradient, param.detach().numpy().copy()


def test_lamb_keras_first_step_from_the_seed_start_lands_on_the_origin() -> None:
    gradient, point = first_step("lamb_keras:lr=1")
    np.testing.assert_allclose(gradient, SEED_START / 50, rtol=1e-12)  # f0 = |p|^2 / 100
    assert np.max(np.abs(point)) <= 1e-4, f"lamb_keras step 1 from (9, 9) on f0 at lr 1: {point}"
    # The library's LAMB (pytorch_optimizer) from its own formula: r = m / (sqrt(v) + eps) on raw
    # moments (0.1 g and 0.001 g^2), ratio min(|p|, 10) / (|r| + eps), step lr / (1 - 0.9) ratio r.
    r = 0.1 * gradient / (np.sqrt(0.001 * gradient**2) + 1e-6)
    ratio = min(np.linalg.norm(SEED_START), 10.0) / (np.linalg.norm(r) + 1e-6)
    library_point = SEED_START - 1.0 / (1 - 0.9) * ratio * r
    np.testing.assert_allclose(first_step("lamb:lr=1")[1], library_point, rtol=1e-10)
    np.testing.assert_allclose(library_point, [[-61.71, -61.71]], atol=0.01)


def test_rmsprop_and_adagrad_keras_first_steps_are_the_keras_closed_forms() -> None:
    gradient, point = first_step("rmsprop_keras:lr=1")
    want = SEED_START - gradient / np.sqrt((1 - 0.9) * gradient**2 + 1e-7)
    np.testing.assert_allclose(point, want, rtol=0, atol=1e-6)
    gradient, point = first_step("adagrad_keras:lr=10")
    want = SEED_START - 10 * gradient / np.sqrt(0.1 + gradient**2 + 1e-7)
    np.testing.assert_allclose(point, want, rtol=0, atol=1e-6)
    # The note's figure: 0.49 lr per coordinate at g = 0.18 (torch: lr, i.e. lr sign(g)).
    np.testing.assert_allclose((SEED_START - point) / 10, 0.18 / math.sqrt(0.1 + 0.18**2), rtol=1e-6)
    assert abs(0.18 / math.sqrt(0.1 + 0.18**2) - 0.49) < 0.01


def test_torch_rmsprop_first_step_is_sqrt10_times_the_keras_one() -> None:
    """Seed 004's "first step 10 instead of 3.2 units": torch moves each coordinate by
    g / (sqrt(0.01 g^2) + 1e-8) ~ 10 at lr 1, Keras by g / sqrt(0.1 g^2 + 1e-7) ~ 3.16; the
    ratio of the two steps is sqrt(10) ~ 3.16, not 10."""
    gradient, keras_point = first_step("rmsprop_keras:lr=1")
    torch_gradient, torch_point = first_step("rmsprop:lr=1")
    np.testing.assert_array_equal(gradient, torch_gradient)
    keras_step = np.linalg.norm(keras_point - SEED_START)
    torch_step = np.linalg.norm(torch_point - SEED_START)
    g = gradient[0, 0]
    formula_ratio = (g / (math.sqrt(0.01 * g**2) + 1e-8)) / (g / math.sqrt(0.1 * g**2 + 1e-7))
    assert torch_step / keras_step == pytest.approx(formula_ratio, rel=1e-9), (
        f"torch/keras first RMSprop step {torch_step / keras_step:.9f}, formula {formula_ratio:.9f}"
    )
    assert formula_ratio == pytest.approx(math.sqrt(10), rel=1e-4)
    np.testing.assert_allclose(np.abs(torch_point - SEED_START), 10.0, rtol=1e-6)
    # eps = 1e-7 inside the root against 0.1 g^2 = 3.2e-3 shortens Keras' step by 1.5e-5.
    np.testing.assert_allclose(np.abs(keras_point - SEED_START), math.sqrt(10), rtol=1e-4)


def test_ftrl_keras_first_steps_follow_the_keras_formula() -> None:
    """Step 1 in closed form (z_0 = 0, n_0 = 0.1): p (1 - sqrt(n_0 / n_1)) - lr g / sqrt(n_1);
    then three more steps against the written-out rule on f0 from the seed's start."""
    for lr in (0.1, 1.0, 10.0):
        gradient, point = first_step(f"ftrl_keras:lr={lr}")
        n1 = 0.1 + gradient**2
        want = SEED_START * (1 - np.sqrt(0.1 / n1)) - lr * gradient / np.sqrt(n1)
        np.testing.assert_allclose(point, want, rtol=1e-12, err_msg=f"lr={lr}")
    np.testing.assert_allclose(first_step("ftrl_keras:lr=1")[1], [[0.6837, 0.6837]], atol=1e-4)
    np.testing.assert_allclose(
        first_step("ftrl:lr=1")[1], [[8.0, 8.0]], rtol=1e-12
    )  # n_0 = 0: p - lr sign(g)

    surface = get_surface("f0")
    param = torch.nn.Parameter(torch.tensor(SEED_START, dtype=torch.float64))
    optimizer = build_optimizer(parse_spec("ftrl_keras:lr=1"), [param])
    state: dict[str, Any] = {}
    for t in range(1, 5):
        p = param.detach().numpy().copy()
        param.grad = None
        surface(param).sum().backward()
        want = ftrl_ref(p, p / 50, state, t, **{**KERAS_DEFAULTS["ftrl_keras"], "lr": 1.0})
        optimizer.step()
        np.testing.assert_allclose(param.detach().numpy(), want, rtol=1e-12, err_msg=f"step {t}")


def test_nadam_keras_is_torch_nadam_with_momentum_decay_one() -> None:
    """A peer check of the note: torch's NAdam with 0.96^(1 * t) and eps 1e-7 is Keras' rule,
    up to torch's float32 mu product (float64 here, under a float64 default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        start = torch.tensor(P0_MATRIX)
        ours, peer = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
        keras = build_optimizer(parse_spec("nadam_keras:lr=0.1"), [ours])
        torch_nadam = torch.optim.NAdam([peer], lr=0.1, eps=1e-7, momentum_decay=1.0)
        for _ in range(STEPS):
            for param, optimizer in ((ours, keras), (peer, torch_nadam)):
                param.grad = torch.tensor(quadratic_gradient(param.detach().numpy()))
                optimizer.step()
    finally:
        torch.set_default_dtype(previous)
    torch.testing.assert_close(ours.detach(), peer.detach(), rtol=1e-10, atol=1e-12)


def test_lamb_keras_is_not_elementwise_but_one_point_per_tensor_is_the_seed() -> None:
    """Stacked start points share one trust ratio; the engine gives LAMB one (1, 2) lane per
    start, which is the seed's variable shape."""
    starts = np.array([[9.0, 9.0], [-7.5, -1.0]])
    stacked = first_step("lamb_keras:lr=1", starts)[1]
    alone = np.concatenate([first_step("lamb_keras:lr=1", row[None])[1] for row in starts])
    assert np.max(np.abs(stacked - alone)) > 1e-3
    paths = run(get_surface("f0"), ["lamb_keras:lr=1"], starts, steps=1, tol=0.0)
    np.testing.assert_allclose(paths.points[:, 1], alone, rtol=1e-12, atol=1e-12)


# --- LARS: the teaching trace and the path engine take the same branch ------------------------


@pytest.mark.parametrize(
    ("surface", "spec", "start"),
    [("f0", "lars:lr=1", [9.0, 9.0]), ("rosenbrock", "lars:lr=0.5,weight_decay=0.01", [-1.5, 2.0])],
)
def test_lars_teaching_trace_equals_the_engine_step_by_step(
    surface: str, spec: str, start: list[float]
) -> None:
    trace = trace_state(get_surface(surface), spec, start=start, steps=6)
    paths = run(get_surface(surface), [spec], [start], steps=6, tol=0.0)
    np.testing.assert_allclose(trace.positions, paths.points[0], rtol=1e-12, atol=1e-14)
    # Both are layer-wise LARS over the point's two coordinates: step 1 is
    # p - lr tc |p| / (|g| + wd |p|) (g + wd p), not heavy-ball's p - lr (g + wd p).
    hparams = {**get_entry("lars").defaults, **parse_spec(spec).hparams}
    p, g = np.array(start), trace.gradients[0]
    wd, lr = hparams["weight_decay"], hparams["lr"]
    trust = hparams["trust_coefficient"] * np.linalg.norm(p) / (np.linalg.norm(g) + wd * np.linalg.norm(p))
    np.testing.assert_allclose(trace.positions[1], p - lr * trust * (g + wd * p), rtol=1e-12)
