"""The state trace against hand-written update formulas, the path engine and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from optiscope.paths import run
from optiscope.paths.state_trace import (
    adagrad_demo_gradients,
    adagrad_demo_updates,
    per_coordinate_step_sizes,
    trace_state,
)
from optiscope.surfaces import get as get_surface

STEPS = 25


@pytest.fixture(scope="module")
def rosenbrock():
    return get_surface("rosenbrock")


def ema(values: np.ndarray, beta: float, first: np.ndarray | None = None) -> np.ndarray:
    """``m_t = beta m_{t-1} + (1 - beta) x_t`` from ``m_0 = 0``, for every t."""
    out = np.empty_like(values)
    state = np.zeros_like(values[0])
    for t, value in enumerate(values):
        state = beta * state + (1.0 - beta) * value
        out[t] = state
    return out


def test_plain_sgd_update_is_minus_lr_times_gradient(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "sgd:lr=0.001", steps=STEPS)
    assert trace.state == {}
    np.testing.assert_allclose(trace.updates, -0.001 * trace.gradients, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(trace.positions[1:] - trace.positions[:-1], trace.updates, rtol=0, atol=0)


def test_gradients_are_the_surface_gradients_at_the_positions() -> None:
    # f0 = (x/10)^2 + (y/10)^2 has gradient p / 50.
    trace = trace_state(get_surface("f0"), "adam:lr=0.5", start=[9.0, -4.0], steps=STEPS)
    np.testing.assert_allclose(trace.gradients, trace.positions[:-1] / 50.0, rtol=1e-13)
    np.testing.assert_allclose(trace.losses, (trace.positions**2).sum(axis=1) / 100.0, rtol=1e-13)


def test_torch_sgd_momentum_buffer_is_b_buf_plus_g(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "sgd:lr=0.0005,momentum=0.8", steps=STEPS)
    grads, buffer = trace.gradients, np.zeros(2)
    for t in range(STEPS):
        # torch starts the buffer at g_1 (no dampening), then b * buf + g.
        buffer = grads[t].copy() if t == 0 else 0.8 * buffer + grads[t]
        np.testing.assert_allclose(trace.state["momentum_buffer"][t], buffer, rtol=1e-12, err_msg=f"step {t}")
        np.testing.assert_allclose(trace.updates[t], -0.0005 * buffer, rtol=1e-10, atol=1e-15)


def test_ema_momentum_velocity_is_the_ema_of_gradients(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "momentum:lr=0.001,momentum=0.9", steps=STEPS)
    velocity = ema(trace.gradients, 0.9)
    np.testing.assert_allclose(trace.state["velocity"], velocity, rtol=1e-12)
    np.testing.assert_allclose(trace.updates, -0.001 * velocity, rtol=1e-10, atol=1e-15)


def test_adam_moments_are_emas_of_gradients_and_squares(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "adam:lr=0.05,betas=(0.8,0.95)", steps=STEPS)
    first = ema(trace.gradients, 0.8)
    second = ema(trace.gradients**2, 0.95)
    np.testing.assert_allclose(trace.state["exp_avg"], first, rtol=1e-12)
    np.testing.assert_allclose(trace.state["exp_avg_sq"], second, rtol=1e-12)
    np.testing.assert_array_equal(trace.scalars["step"], np.arange(1, STEPS + 1))
    t = np.arange(1, STEPS + 1)[:, None]
    expected = -0.05 * (first / (1 - 0.8**t)) / (np.sqrt(second / (1 - 0.95**t)) + 1e-8)
    np.testing.assert_allclose(trace.updates, expected, rtol=1e-9)
    assert trace.hparams["betas"] == (0.8, 0.95) and trace.hparams["lr"] == 0.05
    np.testing.assert_array_equal(trace.lrs, np.full(STEPS, 0.05))


@pytest.mark.parametrize(
    ("spec", "key", "accumulate"),
    [
        ("rmsprop:lr=0.01,alpha=0.9", "square_avg", lambda g2: ema(g2, 0.9)),
        ("adagrad:lr=0.3", "sum", lambda g2: np.cumsum(g2, axis=0)),
    ],
)
def test_adaptive_step_sizes_scale_each_coordinate(rosenbrock, spec: str, key: str, accumulate) -> None:
    trace = trace_state(rosenbrock, spec, steps=STEPS)
    expected_state = accumulate(trace.gradients**2)
    np.testing.assert_allclose(trace.state[key], expected_state, rtol=1e-12)
    found = per_coordinate_step_sizes(trace)
    assert found is not None and found[0] == key
    np.testing.assert_allclose(trace.updates, -found[1] * trace.gradients, rtol=1e-10)


def test_adam_step_sizes_reproduce_its_update(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "adam:lr=0.05", steps=STEPS)
    key, sizes = per_coordinate_step_sizes(trace)
    t = np.arange(1, STEPS + 1)[:, None]
    np.testing.assert_allclose(trace.updates, -sizes * trace.state["exp_avg"] / (1 - 0.9**t), rtol=1e-9)
    assert key == "exp_avg_sq"
    assert per_coordinate_step_sizes(trace_state(rosenbrock, "rmsprop:momentum=0.5", steps=3)) is None
    assert per_coordinate_step_sizes(trace_state(rosenbrock, "lion", steps=3)) is None


@pytest.mark.parametrize("spec", ["nag:lr=0.0005", "lion:lr=0.01", "lamb:lr=0.05", "lbfgs:lr=0.5"])
def test_positions_equal_the_path_engine(rosenbrock, spec: str) -> None:
    """The plain trace loop and the engine move the same way (engine with tol 0 never stops)."""
    trace = trace_state(rosenbrock, spec, start=[-1.5, 2.0], steps=15)
    paths = run(rosenbrock, [spec], [[-1.5, 2.0]], steps=15, tol=0.0)
    np.testing.assert_allclose(trace.positions, paths.points[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(trace.losses, paths.losses[0], rtol=1e-12, atol=1e-14)


def test_scalar_state_and_dtype(rosenbrock) -> None:
    trace = trace_state(rosenbrock, "lamb:lr=0.05", steps=5, dtype=torch.float32)
    assert set(trace.state) == {"exp_avg", "exp_avg_sq"}
    assert "trust_ratio" in trace.scalars and trace.scalars["trust_ratio"].shape == (5,)
    assert trace.positions.dtype == np.float64 and trace.positions.shape == (6, 2)
    assert trace.surface == "rosenbrock" and trace.label == "lamb(lr=0.05)"


def test_bad_arguments_are_refused(rosenbrock) -> None:
    with pytest.raises(ValueError, match="steps"):
        trace_state(rosenbrock, "sgd", steps=0)
    with pytest.raises(ValueError, match="start"):
        trace_state(rosenbrock, "sgd", start=[1.0, float("nan")], steps=2)


def scipy_full_matrix(grads: np.ndarray, eps: float) -> np.ndarray:
    """Seed 004's reference: ``inv(sqrtm(G_t) + eps I) g_t``."""
    outer_sum = np.zeros((grads.shape[1], grads.shape[1]))
    updates = []
    for grad in grads:
        outer_sum += np.outer(grad, grad)
        root = np.real(linalg.sqrtm(outer_sum))
        updates.append(linalg.inv(root + eps * np.eye(len(grad))) @ grad)
    return np.array(updates)


# G_1 = g g^T is singular; scipy warns that its square root may be inaccurate, and it is not.
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
@pytest.mark.parametrize("seed", [32, 53, 7])
def test_adagrad_demo_updates_match_scipy_and_the_diagonal_formula(seed: int) -> None:
    grads = adagrad_demo_gradients(n_steps=8, scales=(0.5, 2.0), seed=seed)
    np.testing.assert_array_equal(grads, np.random.RandomState(seed).rand(8, 2) * [0.5, 2.0])
    full, diagonal = adagrad_demo_updates(grads, eps=1e-5)
    np.testing.assert_allclose(full, scipy_full_matrix(grads, 1e-5), rtol=0, atol=1e-10)
    for t in range(len(grads)):
        squares = (grads[: t + 1] ** 2).sum(axis=0)
        np.testing.assert_allclose(diagonal[t], grads[t] / (np.sqrt(squares) + 1e-5), rtol=0, atol=1e-12)
    # The seed's observations: the first full-matrix direction has norm 1, the diagonal one sqrt(2).
    # (up to eps / |g_1i|: eps is added after the square root).
    assert np.linalg.norm(full[0]) == pytest.approx(1.0, abs=1e-3)
    assert np.linalg.norm(diagonal[0]) == pytest.approx(np.sqrt(2.0), abs=1e-3)


def test_amsgrad_has_no_simple_step_size(rosenbrock) -> None:
    assert per_coordinate_step_sizes(trace_state(rosenbrock, "adam:amsgrad=True", steps=3)) is None
