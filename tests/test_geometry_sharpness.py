"""Optimizer-aware sharpness: preconditioned Hessians from optimizer state, stability thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.curvature import HessianOperator, top_eigen_of
from optiscope.curvature.preconditioned import PreconditionedOperator
from optiscope.nets.sharpness import SharpnessTracker, preconditioner_diagonal, stability_threshold
from optiscope.optimizers.momentum import EMAMomentum
from optiscope.viz.sharpness_figures import sharpness_figure
from test_curvature_fixtures import Quadratic, mean_output, quadratic_data, spiked_matrix


def _preconditioned_top(model: Quadratic, optimizer: torch.optim.Optimizer) -> float:
    diagonal = preconditioner_diagonal(optimizer, [model.theta])
    assert diagonal is not None
    operator = PreconditionedOperator(HessianOperator(model, mean_output, quadratic_data()), diagonal)
    return float(top_eigen_of(operator, k=1, tol=1e-12, method="ritz").values[0])


def _step(model: Quadratic, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    optimizer.zero_grad()
    mean_output(model(quadratic_data()[0]), None).backward()
    gradient = model.theta.grad.detach().clone()
    optimizer.step()
    return gradient


def test_adam_state_set_by_hand_gives_the_closed_form() -> None:
    a = torch.tensor([4.0, 2.0, 0.5, 0.1], dtype=torch.float64)
    model = Quadratic(torch.diag(a))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.99), eps=1e-3)
    _step(model, optimizer)
    state, t = optimizer.state[model.theta], 7
    state["step"] = torch.tensor(float(t))
    state["exp_avg_sq"] = a**2 * (1 - 0.99**t)  # so sqrt(v_hat) = a
    # P = diag(a + eps): P^-1/2 A P^-1/2 = diag(a / (a + eps)).
    assert _preconditioned_top(model, optimizer) == pytest.approx(float((a / (a + 1e-3)).max()), rel=1e-12)
    rms = torch.optim.RMSprop(model.parameters(), lr=0.01, eps=1e-2)
    _step(model, rms)
    rms.state[model.theta]["square_avg"] = a**2
    assert _preconditioned_top(model, rms) == pytest.approx(float((a / (a + 1e-2)).max()), rel=1e-12)
    ada = torch.optim.Adagrad(model.parameters(), lr=0.01, eps=0.5)
    _step(model, ada)
    ada.state[model.theta]["sum"] = 4 * a**2
    assert _preconditioned_top(model, ada) == pytest.approx(float((a / (2 * a + 0.5)).max()), rel=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_after_real_steps_matches_a_hand_kept_second_moment(amsgrad: bool) -> None:
    matrix, _ = spiked_matrix(12, (6.0, 3.0), seed=4)
    model = Quadratic(matrix, seed=1)
    beta2, eps = 0.95, 1e-4
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, betas=(0.8, beta2), eps=eps, amsgrad=amsgrad)
    v, v_max = torch.zeros(12, dtype=torch.float64), torch.zeros(12, dtype=torch.float64)
    steps = 9
    for _ in range(steps):
        g = _step(model, optimizer)
        v = beta2 * v + (1 - beta2) * g**2
        v_max = torch.maximum(v_max, v)
    second = v_max if amsgrad else v
    d = 1 / torch.sqrt(torch.sqrt(second / (1 - beta2**steps)) + eps)
    expected = np.linalg.eigvalsh((d[:, None] * matrix * d[None, :]).numpy()).max()
    assert _preconditioned_top(model, optimizer) == pytest.approx(expected, rel=1e-10)


def _final_distance(optimizer_factory, sharpness: float, steps: int = 1500) -> float:
    """|theta| after ``steps`` of the optimizer on 0.5 * sharpness * theta^2 from theta = 1."""
    theta = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    optimizer = optimizer_factory([theta])
    for _ in range(steps):
        optimizer.zero_grad()
        (0.5 * sharpness * theta**2).sum().backward()
        optimizer.step()
    return float(theta.detach().abs())


@pytest.mark.parametrize(
    "factory",
    [
        lambda p: torch.optim.SGD(p, lr=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.7, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.9),
        lambda p: EMAMomentum(p, lr=0.1, momentum=0.8),
    ],
    ids=["gd", "heavy-ball", "nesterov", "sgd-ema", "ema-momentum"],
)
def test_momentum_thresholds_separate_convergence_from_divergence(factory) -> None:
    threshold, compared = stability_threshold(factory([torch.zeros(1, requires_grad=True)]))
    assert compared == "hessian" and threshold is not None
    below, above = _final_distance(factory, 0.98 * threshold), _final_distance(factory, 1.02 * threshold)
    diverged = not above < 1e3  # NaN or inf once it overflows
    assert below < 1e-3 and diverged, f"threshold {threshold}: |theta| {below} below, {above} above"


def test_adam_threshold_is_where_frozen_preconditioned_momentum_turns_unstable() -> None:
    """EMA momentum on a preconditioned quadratic of sharpness h: m' = b m + (1 - b) h x, x' = x - lr m'."""
    lr, beta1 = 0.003, 0.9
    threshold, compared = stability_threshold(torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr))
    assert compared == "preconditioned" and threshold == pytest.approx(38 / lr)

    def radius(h: float) -> float:
        step = np.array([[beta1, (1 - beta1) * h], [-lr * beta1, 1 - lr * (1 - beta1) * h]])
        return float(np.abs(np.linalg.eigvals(step)).max())

    assert radius(0.99 * threshold) < 1 < radius(1.01 * threshold)
    assert stability_threshold(torch.optim.RMSprop([torch.zeros(1, requires_grad=True)], lr=0.5)) == (
        pytest.approx(4.0), "preconditioned")  # fmt: skip


def test_training_tracks_sharpness_every_k_steps(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), "--opt", "adam:lr=0.002",
                                      "--limit", "120", "--batch-size", "40", "--epochs", "2",
                                      "--no-record", "--track-sharpness", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "run" / "sharpness.parquet")
    assert frame["step"].tolist() == [2, 4, 6]
    assert (frame["compared"] == "preconditioned").all()
    np.testing.assert_allclose(frame["threshold"], 38 / 0.002)
    assert np.all(frame["lambda_max"] > 0) and np.all(np.isfinite(frame["preconditioned_lambda_max"]))
    assert (tmp_path / "run" / "report.html").is_file()


def test_tracker_state_round_trips_and_matches_a_fresh_solve() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(30, 5, dtype=torch.float64), torch.randint(0, 3, (30,))
    tracker = SharpnessTracker(model, optimizer, x, y, every=1, batch_size=30, tol=1e-10)
    tracker.after_step(1)
    expected = top_eigen_of(HessianOperator(model, torch.nn.CrossEntropyLoss(), (x, y)), k=1, tol=1e-12)
    row = tracker.frame().iloc[0]
    assert row["lambda_max"] == pytest.approx(float(expected.values[0]), rel=1e-9)
    assert np.isnan(row["preconditioned_lambda_max"]) and row["threshold"] == pytest.approx(38.0)
    again = SharpnessTracker(model, optimizer, x, y, every=1, batch_size=30, tol=1e-10)
    again.restore(*tracker.state())
    pd.testing.assert_frame_equal(again.frame(), tracker.frame())
    assert set(again.vectors) == {"hessian"}
    figure = sharpness_figure(tracker.frame())
    lines = figure.axes[0].lines
    assert len(lines) == 2 and lines[1].get_linestyle() == "--", "the raw sharpness and its threshold"
    assert lines[0].get_color() == lines[1].get_color(), "the threshold takes the colour of what it bounds"
    np.testing.assert_allclose(lines[1].get_ydata(), [38.0])
