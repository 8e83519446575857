"""EigenTracker: warm steps agree with cold solves and cost fewer products; frame and figure."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from optiscope.curvature import CurvatureError, EigenTracker, HessianOperator, top_eigen_of
from optiscope.viz.curvature_figures import ratio_figure
from test_curvature_fixtures import LOSS, digits, mlp


def _sgd_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float = 0.01) -> None:
    model.zero_grad()
    LOSS(model(x), y).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    model.zero_grad()


def test_warm_steps_match_cold_solves_and_use_fewer_products() -> None:
    model = mlp(seed=1)
    x, y = digits(200)
    tol = 1e-4
    tracker = EigenTracker(model, LOSS, k=2, tol=tol)
    batch = (x[:100], y[:100])
    tracker.update(batch)
    for step in range(3):
        # One small SGD step on the whole set, then the next stochastic batch (seed 001's setting).
        _sgd_step(model, x, y)
        batch = (x[20 * step : 20 * step + 100], y[20 * step : 20 * step + 100])
        values, hvps = tracker.update(batch)
        cold = top_eigen_of(HessianOperator(model, LOSS, batch), k=2, tol=tol)
        rel = np.abs(values - cold.values) / cold.values[0]
        assert rel.max() < tol, f"warm {values} vs cold {cold.values}: relative difference {rel}"
        assert hvps < cold.hvps, f"warm step used {hvps} products, a cold solve {cold.hvps}"
    assert tracker.last is not None and tracker.last.residuals.max() < 10 * tol * values[0]


def test_history_frame_and_ratio_figure() -> None:
    model = mlp(seed=2)
    x, y = digits(200)
    tracker = EigenTracker(model, LOSS, k=2, tol=1e-4)
    for step in range(3):
        tracker.update((x[50 * step : 50 * step + 100], y[50 * step : 50 * step + 100]))
    frame = tracker.to_frame()
    assert list(frame.columns) == ["step", "lambda1", "lambda2", "ratio", "hvps", "seconds", "warm"]
    assert frame["step"].tolist() == [0, 1, 2] and frame["warm"].tolist() == [False, True, True]
    assert np.allclose(frame["ratio"], frame["lambda1"] / frame["lambda2"])
    assert (frame["lambda1"] >= frame["lambda2"]).all() and (frame["hvps"] > 0).all()
    figure = ratio_figure(frame)
    assert isinstance(figure, Figure)
    line = figure.axes[0].lines[0]
    assert np.allclose(line.get_ydata(), frame["ratio"])
    with pytest.raises(CurvatureError, match="lacks columns"):
        ratio_figure(frame.drop(columns="ratio"))


def test_tracker_needs_two_eigenvalues() -> None:
    with pytest.raises(CurvatureError, match="k >= 2"):
        EigenTracker(mlp(), LOSS, k=1)


def test_public_names_import() -> None:
    module = importlib.import_module("optiscope.curvature")
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing and len(set(module.__all__)) == len(module.__all__), f"missing {missing}"
