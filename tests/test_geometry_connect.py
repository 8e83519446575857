"""Mode connectivity: barriers along the line and a trained Bezier curve between two digits MLPs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from optiscope.cli import app
from optiscope.experiments.connect_study import ConnectConfig, run_connect_study
from optiscope.landscape.connectivity import (
    BezierState,
    evaluate_curve,
    line_point,
    recompute_batch_norm,
    train_bezier,
)
from optiscope.nets.trained import load_trained
from optiscope.nets.trainer import TrainConfig, train

LIMIT = 300


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two digits MLPs trained from different initialisations (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("connect")
    runs = (root / "seed0", root / "seed1")
    for seed, folder in enumerate(runs):
        config = TrainConfig.build(epochs=3, limit=LIMIT, patience=None, seed=seed, record=False,
                                   optimizer="adam:lr=0.01")  # fmt: skip
        train(config, folder)
    return runs


def _loop_barrier(run_a: Path, run_b: Path, points: int) -> tuple[float, np.ndarray]:
    """The line's barrier by a plain loop: set each parameter to (1 - t) a + t b, evaluate."""
    a, b = load_trained(run_a), load_trained(run_b)
    model = a.model
    ends = [[p.detach().clone() for p in m.parameters()] for m in (a.model, b.model)]
    x, y = a.data.x_train, a.data.y_train
    losses = []
    for t in np.linspace(0.0, 1.0, points):
        with torch.no_grad():
            for p, pa, pb in zip(model.parameters(), *ends, strict=True):
                p.copy_((1 - t) * pa + t * pb)
            losses.append(float(nn.functional.cross_entropy(model(x), y)))
    losses_array = np.array(losses)
    return float(losses_array.max() - (losses_array[0] + losses_array[-1]) / 2), losses_array


def test_the_line_from_a_model_to_itself_has_no_barrier(two_runs, tmp_path: Path) -> None:
    run_a, _ = two_runs
    execution = run_connect_study(ConnectConfig.build(run_a=str(run_a), run_b=str(run_a), curve="linear",
                                                      points=7), tmp_path / "self")  # fmt: skip
    summary = execution.run_dir.read_table("summary")
    assert summary["curve"].tolist() == ["linear"]
    assert summary["barrier"].iloc[0] == 0.0, f"barrier of a model with itself: {summary['barrier'].iloc[0]}"
    curves = execution.run_dir.read_table("curves")
    assert np.ptp(curves["loss"]) == 0.0


def test_independent_runs_have_a_positive_barrier_equal_to_a_plain_loop(two_runs, tmp_path: Path) -> None:
    run_a, run_b = two_runs
    points = 11
    execution = run_connect_study(ConnectConfig.build(run_a=str(run_a), run_b=str(run_b), curve="linear",
                                                      points=points), tmp_path / "ab")  # fmt: skip
    expected, losses = _loop_barrier(run_a, run_b, points)
    stored = execution.run_dir.read_table("summary").iloc[0]
    curves = execution.run_dir.read_table("curves")
    assert expected > 0.01, (
        f"two independent solutions should be separated by a barrier; loop says {expected}"
    )
    np.testing.assert_allclose(
        curves["loss"], losses, rtol=1e-5, err_msg="study vs loop losses along the line"
    )
    assert stored["barrier"] == pytest.approx(expected, rel=1e-4), (
        f"study {stored['barrier']} vs loop {expected}"
    )


def test_a_trained_bezier_curve_is_lower_than_the_line_at_its_middle(two_runs, tmp_path: Path) -> None:
    run_a, run_b = two_runs
    config = ConnectConfig.build(run_a=str(run_a), run_b=str(run_b), curve="bezier", points=5,
                                 bezier_steps=150, bezier_optimizer="adam:lr=0.01")  # fmt: skip
    execution = run_connect_study(config, tmp_path / "bezier")
    summary = execution.run_dir.read_table("summary").set_index("curve")
    line_mid, curve_mid = summary.loc["linear", "loss_mid"], summary.loc["bezier", "loss_mid"]
    assert curve_mid <= line_mid, f"Bezier midpoint loss {curve_mid} vs the line's {line_mid}"
    assert summary.loc["bezier", "barrier"] < summary.loc["linear", "barrier"]
    # The curve's ends are the runs themselves.
    assert summary.loc["bezier", "loss_a"] == pytest.approx(summary.loc["linear", "loss_a"], rel=1e-6)
    assert summary.loc["bezier", "loss_b"] == pytest.approx(summary.loc["linear", "loss_b"], rel=1e-6)
    files = {p.name for p in execution.path.rglob("*")}
    assert {"connectivity.png", "bezier_training.png", "bezier_control.safetensors", "report.html"} <= files
    again = run_connect_study(config, tmp_path / "bezier")
    assert again.cached


def test_bezier_training_in_two_chunks_equals_one_run(two_runs) -> None:
    a, b = load_trained(two_runs[0]), load_trained(two_runs[1])
    ends = [torch.nn.utils.parameters_to_vector(m.parameters()).detach() for m in (a.model, b.model)]
    data = (a.data.x_train, a.data.y_train)
    loss, start = nn.CrossEntropyLoss(), BezierState.start(*ends)
    whole = train_bezier(a.model, loss, data, *ends, start, 20, optimizer="adam:lr=0.01", batch_size=32)
    half = train_bezier(a.model, loss, data, *ends, start, 12, optimizer="adam:lr=0.01", batch_size=32)
    rest = train_bezier(a.model, loss, data, *ends, half, 8, optimizer="adam:lr=0.01", batch_size=32)
    assert rest.step == whole.step == 20
    assert torch.equal(rest.control, whole.control), "resumed training differs from an unbroken run"


def test_batch_norm_statistics_are_recomputed_at_each_point() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    recompute_batch_norm(model, x, batch_size=16)
    hidden = model[0](x).detach()
    torch.testing.assert_close(model[1].running_mean, hidden.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, hidden.var(0, unbiased=True), rtol=1e-4, atol=1e-6)
    assert not model.training and model[1].momentum == 0.1
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    other = theta + 0.3 * torch.randn_like(theta)
    profile = evaluate_curve(model, nn.CrossEntropyLoss(), (x, y), lambda t: line_point(theta, other, t),
                             np.array([0.0, 0.5, 1.0]), batch_norm_data=x)  # fmt: skip
    expected = []
    for t in (0.0, 0.5, 1.0):
        probe = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))
        torch.nn.utils.vector_to_parameters((1 - t) * theta + t * other, probe.parameters())
        with torch.no_grad():
            h = probe[0](x)
            normed = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=True) + probe[1].eps)
            logits = probe[3](torch.relu(normed * probe[1].weight + probe[1].bias))
        expected.append(float(nn.functional.cross_entropy(logits, y)))
    np.testing.assert_allclose(profile.loss, expected, rtol=1e-5)


def test_connect_command_writes_the_study_and_refuses_other_architectures(two_runs, tmp_path: Path) -> None:
    run_a, run_b = two_runs
    runner = CliRunner()
    result = runner.invoke(app, ["connect", str(run_a), str(run_b), "--curve", "linear", "--points", "5",
                                 "--out", str(tmp_path / "cli")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "linear: barrier" in result.output
    assert (tmp_path / "cli" / "summary.parquet").is_file() and (tmp_path / "cli" / "report.html").is_file()
    cnn = tmp_path / "cnn"
    train(TrainConfig.build(model="cnn", epochs=1, limit=64, patience=None, record=False), cnn)
    result = runner.invoke(app, ["connect", str(run_a), str(cnn), "--curve", "linear", "--out",
                                 str(tmp_path / "bad")])  # fmt: skip
    assert result.exit_code == 2
    assert "different parameter layouts" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "bad").exists()
