"""Teaching figures render to non-blank PNGs of the asked size, with the panels they promise."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from optiscope.paths import run
from optiscope.paths.state_trace import adagrad_demo_gradients, adagrad_demo_updates, trace_state
from optiscope.surfaces import get as get_surface
from optiscope.surfaces.regression import make_data
from optiscope.viz.teaching import (
    adagrad_full_vs_diagonal_figure,
    lr_sweep_figure,
    regression_surfaces_figure,
    state_arrows_figure,
)

DPI = 40


def render(figure: Figure) -> np.ndarray:
    """PNG bytes -> RGBA array; checks the pixel size against the figure size."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    pixels = imread(buffer)
    width, height = figure.get_size_inches() * DPI
    assert pixels.shape[:2] == (round(height), round(width)), (
        f"PNG is {pixels.shape[:2]}, expected {(round(height), round(width))}"
    )
    spread = float(pixels[..., :3].std())
    assert spread > 0.05, f"figure looks blank: pixel std {spread:.3f} <= 0.05"
    return pixels


def content_axes(figure: Figure) -> list:
    return [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]


@pytest.fixture(scope="module")
def rosenbrock_grid():
    surface = get_surface("rosenbrock")
    xs, ys, zs = (array.numpy() for array in surface.grid(60))
    return surface, xs, ys, zs


@pytest.mark.parametrize(
    ("spec", "panels", "arrows_per_step"),
    [
        ("sgd:lr=0.001", 1, 2),
        ("classical_momentum:lr=0.001", 1, 3),
        ("adam:lr=0.05", 2, 3),
        ("rmsprop:lr=0.01", 2, 2),
        ("adagrad:lr=0.3", 2, 2),
    ],
)
def test_state_arrows_figure(rosenbrock_grid, spec: str, panels: int, arrows_per_step: int) -> None:
    surface, xs, ys, zs = rosenbrock_grid
    trace = trace_state(surface, spec, steps=20)
    steps = [0, 4, 12]
    figure = state_arrows_figure(
        xs, ys, zs, trace, steps_to_show=steps, title=f"rosenbrock: {surface.formula}"
    )
    render(figure)
    assert len(figure.axes) == panels
    main = figure.axes[0]
    assert len(main.patches) == arrows_per_step * len(steps), "one arrow per vector and step"
    legend_text = [text.get_text() for text in main.get_legend().get_texts()]
    assert len(legend_text) == arrows_per_step + 1 and any("position units" in text for text in legend_text)
    assert trace.label in main.get_title() and "lr=" in main.get_title()
    assert surface.formula in figure.get_suptitle()
    annotations = [text.get_text() for text in main.texts]
    assert ("lr/(√v+ε)" in annotations[0]) == (panels == 2)


def test_state_arrows_figure_refuses_steps_out_of_range(rosenbrock_grid) -> None:
    surface, xs, ys, zs = rosenbrock_grid
    trace = trace_state(surface, "sgd:lr=0.001", steps=5)
    with pytest.raises(ValueError, match="steps_to_show"):
        state_arrows_figure(xs, ys, zs, trace, steps_to_show=[5], title="t")


def test_adagrad_full_vs_diagonal_figure() -> None:
    grads = adagrad_demo_gradients(n_steps=8)
    full, diagonal = adagrad_demo_updates(grads, eps=1e-5)
    figure = adagrad_full_vs_diagonal_figure(grads, full, diagonal, eps=1e-5)
    render(figure)
    left, right = figure.axes
    assert "full matrix" in left.get_title() and "diagonal" in right.get_title()
    for axes, updates in ((left, full), (right, diagonal)):
        # One arrow and one norm label for each g_t and each v_t.
        labels = [text.get_text() for text in axes.texts if text.get_text()]
        assert len(labels) == 2 * len(grads)
        assert f"$\\|v_{{0}}\\|={np.linalg.norm(updates[0]):.2f}$" in labels
        arrows = [text for text in axes.texts if not text.get_text()]
        alphas = [arrow.arrow_patch.get_alpha() for arrow in arrows]
        assert alphas[0] == 1.0 and alphas[-1] < alphas[0], "later steps must fade"


def test_lr_sweep_figure_has_one_axes_per_lr() -> None:
    surface = get_surface("f0")
    xs, ys, zs = (array.numpy() for array in surface.grid(50))
    lrs = (0.01, 0.1, 0.5, 1.0, 10.0)
    paths = run(surface, [f"adagrad:lr={lr}" for lr in lrs], [[9.0, 9.0]], steps=20)
    figure = lr_sweep_figure(xs, ys, zs, paths, title=f"f0: {surface.formula}", minima=surface.minima)
    render(figure)
    panels = content_axes(figure)
    assert len(panels) == len(lrs)
    for axes, lr in zip(panels, lrs, strict=True):
        assert f"lr={lr}" in axes.get_title() and "loss" in axes.get_title()
        assert axes.get_xlabel() == "x" and axes.get_ylabel() == "y"
    colours = {axes.lines[0].get_color() for axes in panels}
    assert len(colours) == len(lrs), "one colour per config"


def test_regression_surfaces_figure() -> None:
    surfaces = [get_surface(f"regression_{loss}", n_samples=40) for loss in ("mse", "rmse", "mae")]
    grids = {f"{s.name}: {s.formula}": tuple(a.numpy() for a in s.grid(40)) for s in surfaces}
    options = surfaces[0].options
    data_x, data_y = make_data(options["n_samples"], options["data_seed"], options["noise_std"])
    fits = {"least squares": surfaces[0].minima[0], "least absolute": surfaces[2].minima[0]}
    figure = regression_surfaces_figure(grids, data_x.numpy(), data_y.numpy(), fits)
    render(figure)
    panels = content_axes(figure)
    assert len(panels) == 4
    assert [axes.get_title() for axes in panels[:3]] == list(grids)
    assert panels[0].get_xlabel().startswith("θ0") and panels[0].get_ylabel().startswith("θ1")
    data_panel = panels[3]
    assert len(data_panel.lines) == len(fits)
    theta0, theta1 = fits["least squares"]
    line_x, line_y = data_panel.lines[0].get_data()
    np.testing.assert_allclose(line_y, theta0 + theta1 * line_x, rtol=1e-12)
