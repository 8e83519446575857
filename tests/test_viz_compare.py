"""Comparison figures draw each run's stored columns, one colour per run, with the scales they promise."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from optiscope.viz.compare_figures import (
    along_direction_figure,
    eigen_ratio_figure,
    per_class_accuracy_figure,
    training_comparison_figure,
)
from optiscope.viz.palette import colour_for

LABELS = ("GD lr=0.1", "SGD lr=0.002", "Adam lr=0.001")
N_CLASSES = 3


def metrics_frame(seed: int, epochs: int = 6, steps_per_epoch: int = 50, n_classes: int = N_CLASSES):
    """Per-epoch metrics as the trainer stores them, with decreasing positive losses."""
    rng = np.random.default_rng(seed)
    epoch = np.arange(1, epochs + 1)
    columns = {
        "epoch": epoch,
        "steps": epoch * steps_per_epoch,
        "train_loss": np.sort(rng.uniform(0.1, 2.0, epochs))[::-1],
        "train_accuracy": np.sort(rng.uniform(0.2, 0.95, epochs)),
        "test_loss": np.sort(rng.uniform(0.2, 2.2, epochs))[::-1],
        "test_accuracy": np.sort(rng.uniform(0.2, 0.9, epochs)),
        "grad_norm": rng.uniform(0.01, 3.0, epochs),
    }
    for k in range(n_classes):
        columns[f"test_accuracy_class_{k}"] = rng.uniform(0.0, 1.0, epochs)
    return pd.DataFrame(columns)


def runs(make, count: int = len(LABELS)) -> dict[str, pd.DataFrame]:
    return {label: make(seed) for seed, label in enumerate(LABELS[:count])}


def eigen_frame(seed: int, steps: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lambda1 = rng.uniform(5.0, 10.0, steps)
    lambda2 = rng.uniform(0.5, 4.0, steps)
    return pd.DataFrame(
        {
            "step": np.arange(900, 900 + steps),
            "lambda1": lambda1,
            "lambda2": lambda2,
            "ratio": lambda1 / lambda2,
        }
    )


def curve_frame(seed: int, points: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    e = np.linspace(-1.0, 1.0, points)
    curvature = rng.uniform(1.0, 5.0)
    quadratic = 0.3 + 0.5 * curvature * e**2
    return pd.DataFrame({"e": e, "loss": quadratic + 0.2 * e**3, "quadratic": quadratic})


def assert_renders(figure: Figure) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=30)
    assert buffer.tell() > 1000, f"PNG is only {buffer.tell()} bytes"


def legend_texts(figure: Figure) -> list[str]:
    legends = [*figure.legends, *(axes.get_legend() for axes in figure.axes if axes.get_legend())]
    assert len(legends) == 1, f"expected one legend, found {len(legends)}"
    return [text.get_text() for text in legends[0].get_texts()]


def test_training_comparison_draws_each_run_over_steps():
    metrics = runs(metrics_frame)
    figure = training_comparison_figure(metrics, title="MLP on MNIST")
    loss, accuracy, gradient = figure.axes
    for axes, column in ((loss, "train_loss"), (accuracy, "test_accuracy"), (gradient, "grad_norm")):
        lines = axes.get_lines()
        assert len(lines) == len(metrics), f"{column}: {len(lines)} lines for {len(metrics)} runs"
        assert axes.get_xlabel() == "optimizer steps"
        for index, (line, frame) in enumerate(zip(lines, metrics.values(), strict=True)):
            np.testing.assert_array_equal(line.get_xdata(), frame["steps"].to_numpy(), err_msg=column)
            np.testing.assert_allclose(line.get_ydata(), frame[column].to_numpy(), err_msg=column)
            assert to_hex(line.get_color()) == colour_for(index).lower()
    for axes, column in ((loss, "train_loss"), (gradient, "grad_norm")):
        values = np.concatenate([frame[column].to_numpy() for frame in metrics.values()])
        wide = values.max() / values.min() > 10  # log only when the values span over a decade
        assert axes.get_yscale() == ("log" if wide else "linear"), (
            f"{column}: span {values.max() / values.min():.3g}"
        )
    assert accuracy.get_yscale() == "linear"
    assert accuracy.get_ylim() == (0.0, 1.0)
    assert legend_texts(figure) == list(LABELS)
    assert figure.get_suptitle() == "MLP on MNIST"
    assert_renders(figure)


def test_training_comparison_epoch_axis():
    metrics = runs(metrics_frame, count=2)
    figure = training_comparison_figure(metrics, title="t", x="epoch")
    for axes in figure.axes:
        assert axes.get_xlabel() == "epoch"
        for line, frame in zip(axes.get_lines(), metrics.values(), strict=True):
            np.testing.assert_array_equal(line.get_xdata(), frame["epoch"].to_numpy())


def test_diverged_run_drops_non_finite_points_and_is_marked():
    metrics = runs(metrics_frame)
    diverged = metrics["SGD lr=0.002"].copy()
    diverged.loc[3, "train_loss"] = 1e6
    diverged.loc[4, ["train_loss", "grad_norm"]] = np.inf
    diverged.loc[5, ["train_loss", "grad_norm"]] = np.nan
    metrics["SGD lr=0.002"] = diverged
    # A NaN in the middle of a run that recovers drops that point but does not mark the run.
    metrics["Adam lr=0.001"].loc[2, "train_loss"] = np.nan
    figure = training_comparison_figure(metrics, title="t")
    loss, _, gradient = figure.axes
    sgd_loss, adam_loss = loss.get_lines()[1], loss.get_lines()[2]
    np.testing.assert_array_equal(sgd_loss.get_xdata(), diverged["steps"].to_numpy()[:4])
    np.testing.assert_allclose(sgd_loss.get_ydata(), diverged["train_loss"].to_numpy()[:4])
    np.testing.assert_array_equal(gradient.get_lines()[1].get_xdata(), diverged["steps"].to_numpy()[:4])
    assert len(adam_loss.get_xdata()) == 5
    assert loss.get_yscale() == "log", "finite plotted losses are all positive"
    texts = legend_texts(figure)
    assert texts[1] == "SGD lr=0.002 (diverged)"
    assert not texts[0].endswith("(diverged)") and not texts[2].endswith("(diverged)"), texts


@pytest.mark.parametrize("column", ["train_loss", "grad_norm"])
def test_training_comparison_linear_scale_when_not_positive(column):
    metrics = runs(metrics_frame, count=2)
    metrics["GD lr=0.1"].loc[5, column] = 0.0
    loss, _, gradient = training_comparison_figure(metrics, title="t").axes
    checked, other = (loss, gradient) if column == "train_loss" else (gradient, loss)
    assert checked.get_yscale() == "linear", f"{column} has a zero, yet the panel is log"
    other_column = "grad_norm" if column == "train_loss" else "train_loss"
    values = np.concatenate([frame[other_column].to_numpy() for frame in metrics.values()])
    assert other.get_yscale() == ("log" if values.max() / values.min() > 10 else "linear"), other_column


def test_per_class_bars_are_the_last_row():
    metrics = runs(metrics_frame)
    figure = per_class_accuracy_figure(metrics, title="per class")
    (axes,) = figure.axes
    assert len(axes.containers) == len(metrics)
    columns = [f"test_accuracy_class_{k}" for k in range(N_CLASSES)]
    centres = []
    for index, (container, frame) in enumerate(zip(axes.containers, metrics.values(), strict=True)):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_allclose(heights, frame[columns].iloc[-1].to_numpy(), err_msg=f"run {index}")
        assert {to_hex(bar.get_facecolor()) for bar in container} == {colour_for(index).lower()}
        centres.append([bar.get_x() + bar.get_width() / 2 for bar in container])
    centres = np.array(centres)
    assert (np.diff(centres, axis=0) > 0).all(), "runs are not side by side within a class group"
    np.testing.assert_allclose(centres.mean(axis=0), np.arange(N_CLASSES), atol=1e-12)
    assert axes.get_ylim() == (0.0, 1.0)
    assert legend_texts(figure) == list(LABELS)
    assert_renders(figure)


def test_per_class_orders_classes_numerically():
    frame = metrics_frame(0, n_classes=12)
    class_columns = [f"test_accuracy_class_{k}" for k in range(12)]
    shuffled = frame[[*frame.columns[:7], *sorted(class_columns)]]  # class_10 before class_2
    figure = per_class_accuracy_figure({"SGD": shuffled}, title="t")
    heights = [bar.get_height() for bar in figure.axes[0].containers[0]]
    np.testing.assert_allclose(heights, frame[class_columns].iloc[-1].to_numpy())


def test_per_class_missing_class_column_names_run_and_column():
    metrics = runs(metrics_frame, count=2)
    metrics["SGD lr=0.002"] = metrics["SGD lr=0.002"].drop(columns="test_accuracy_class_2")
    with pytest.raises(ValueError, match=r"'SGD lr=0\.002'.*test_accuracy_class_2"):
        per_class_accuracy_figure(metrics, title="t")
    with pytest.raises(ValueError, match="test_accuracy_class_0"):
        per_class_accuracy_figure({"GD": metrics_frame(0, n_classes=0)}, title="t")


def test_eigen_ratio_panels():
    eigs = runs(eigen_frame)
    figure = eigen_ratio_figure(eigs, title="eigenvalues")
    values, ratio = figure.axes
    assert len(values.get_lines()) == 2 * len(eigs)
    assert len(ratio.get_lines()) == len(eigs) + 1, "one ratio line per run and the line at 1"
    for index, frame in enumerate(eigs.values()):
        first, second = values.get_lines()[2 * index : 2 * index + 2]
        assert (first.get_linestyle(), second.get_linestyle()) == ("-", "--")
        assert to_hex(first.get_color()) == to_hex(second.get_color()) == colour_for(index).lower()
        np.testing.assert_allclose(first.get_ydata(), frame["lambda1"].to_numpy())
        np.testing.assert_allclose(second.get_ydata(), frame["lambda2"].to_numpy())
        line = ratio.get_lines()[index]
        np.testing.assert_array_equal(line.get_xdata(), frame["step"].to_numpy())
        np.testing.assert_allclose(line.get_ydata(), frame["ratio"].to_numpy())
    np.testing.assert_array_equal(ratio.get_lines()[-1].get_ydata(), [1.0, 1.0])
    assert ratio.get_yscale() == "log"
    assert legend_texts(figure) == list(LABELS)
    assert_renders(figure)


def test_eigen_ratio_linear_when_a_ratio_is_negative():
    eigs = runs(eigen_frame, count=2)
    eigs["GD lr=0.1"].loc[10, ["lambda2", "ratio"]] = [-0.5, -12.0]
    ratio = eigen_ratio_figure(eigs, title="t").axes[1]
    assert ratio.get_yscale() == "linear"


def test_along_direction_loss_solid_quadratic_dotted():
    curves = runs(curve_frame)
    figure = along_direction_figure(curves, title="along v1")
    (axes,) = figure.axes
    lines = axes.get_lines()
    assert len(lines) == 2 * len(curves)
    for index, frame in enumerate(curves.values()):
        loss, quadratic = lines[2 * index : 2 * index + 2]
        assert (loss.get_linestyle(), quadratic.get_linestyle()) == ("-", ":")
        assert to_hex(loss.get_color()) == to_hex(quadratic.get_color()) == colour_for(index).lower()
        np.testing.assert_array_equal(loss.get_xdata(), frame["e"].to_numpy())
        np.testing.assert_allclose(loss.get_ydata(), frame["loss"].to_numpy())
        np.testing.assert_allclose(quadratic.get_ydata(), frame["quadratic"].to_numpy())
    assert axes.get_xlabel() == "step along the top Hessian eigenvector (alpha)"
    assert axes.get_ylabel() == "loss"
    assert legend_texts(figure) == list(LABELS)
    assert_renders(figure)


FIGURES = [
    (training_comparison_figure, metrics_frame, "grad_norm"),
    (per_class_accuracy_figure, metrics_frame, "test_accuracy_class_1"),
    (eigen_ratio_figure, eigen_frame, "ratio"),
    (along_direction_figure, curve_frame, "quadratic"),
]


@pytest.mark.parametrize(("function", "make", "column"), FIGURES)
def test_missing_column_names_run_and_column(function, make, column):
    frames = runs(make, count=2)
    frames["SGD lr=0.002"] = frames["SGD lr=0.002"].drop(columns=column)
    with pytest.raises(ValueError, match=rf"'SGD lr=0\.002'.*{re.escape(column)}"):
        function(frames, title="t")


@pytest.mark.parametrize(("function", "make", "column"), FIGURES)
def test_empty_dict_and_empty_frame_are_rejected(function, make, column):
    with pytest.raises(ValueError, match="empty"):
        function({}, title="t")
    with pytest.raises(ValueError, match=r"'GD'.*no rows"):
        function({"GD": make(0).iloc[:0]}, title="t")


def test_unknown_x_column_is_rejected():
    with pytest.raises(ValueError, match="'wall_time'"):
        training_comparison_figure(runs(metrics_frame, count=1), title="t", x="wall_time")
