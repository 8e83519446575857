"""Figures that overlay several training runs, one colour per run, to compare optimizers.

The seed reports compare optimizers this way: gradient norm per epoch (seed 001 fig. 1), loss
along the top Hessian eigenvector (fig. 2), the ratio of the two largest Hessian eigenvalues
(fig. 3), per-class test accuracy, and the training losses of GD/SGD/Adam (seed 000 fig. 3).
Every function takes ``{run label: frame}`` in drawing order; run ``i`` gets ``colour_for(i)``.
Nothing here trains or recomputes: the frames are what the trainer and trackers stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from optiscope.viz.palette import colour_for
from optiscope.viz.training_figures import integer_ticks, log_scale_if_wide, mark_diverged

__all__ = [
    "along_direction_figure",
    "eigen_ratio_figure",
    "per_class_accuracy_figure",
    "training_comparison_figure",
]

_CLASS_PREFIX = "test_accuracy_class_"
_X_LABELS = {"steps": "optimizer steps", "epoch": "epoch"}


def _check_frames(frames: Mapping[str, pd.DataFrame], columns: Iterable[str], kind: str) -> None:
    """Raise ``ValueError`` for no runs, a run without rows, or a run lacking a needed column."""
    if not frames:
        raise ValueError(f"no runs to compare: the {kind} dict is empty")
    needed = list(columns)
    for label, frame in frames.items():
        missing = [column for column in needed if column not in frame.columns]
        if missing:
            raise ValueError(
                f"run {label!r}: its {kind} frame lacks column(s) {missing}; it has {list(frame.columns)}"
            )
        if frame.empty:
            raise ValueError(f"run {label!r}: its {kind} frame has no rows")


def _plot_finite(axes: Axes, xs: pd.Series, ys: pd.Series, style: str, **kwargs: object) -> Line2D:
    """Plot ``ys`` against ``xs`` without the NaN/inf points (a diverged run's tail)."""
    x_values = xs.to_numpy(dtype=float)
    y_values = ys.to_numpy(dtype=float)
    keep = np.isfinite(x_values) & np.isfinite(y_values)
    (line,) = axes.plot(x_values[keep], y_values[keep], style, **kwargs)
    return line


def _log_if_positive(axes: Axes, lines: Sequence[Line2D]) -> None:
    """Log y scale when every plotted point of ``lines`` is > 0 and they span more than a decade
    (:func:`log_scale_if_wide`, which also floors the axis under far outliers)."""
    values = np.concatenate([np.empty(0), *(np.asarray(line.get_ydata(), dtype=float) for line in lines)])
    if values.size and (values > 0).all():
        log_scale_if_wide(axes, values)


def _run_legend(figure: Figure, handles: Sequence[Line2D]) -> None:
    """One legend for the whole figure, below the panels, one entry per run."""
    figure.legend(
        handles,
        [handle.get_label() for handle in handles],
        loc="outside lower center",
        ncol=min(len(handles), 4),
        fontsize=8,
        frameon=False,
    )


def _run_label(label: str, frame: pd.DataFrame, diverged: bool = False) -> str:
    """The run's legend label, marked ``(diverged)`` when it did or its last training loss is not finite."""
    last = float(frame["train_loss"].iloc[-1])
    return label if np.isfinite(last) and not diverged else f"{label} (diverged)"


def _mark_diverged_runs(
    axes: Axes, metrics: Mapping[str, pd.DataFrame], x: str, diverged: Mapping[str, str]
) -> None:
    """Mark where each run in ``diverged`` stops on the loss panel, one note per run, stacked."""
    slot = 0
    for index, (label, frame) in enumerate(metrics.items()):
        if label in diverged:
            xs, ys = frame[x].to_numpy(), frame["train_loss"].to_numpy()
            mark_diverged(axes, xs, ys, f"{label}: {diverged[label]}", colour=colour_for(index), slot=slot)
            slot += 1


def training_comparison_figure(
    metrics: Mapping[str, pd.DataFrame],
    *,
    title: str,
    x: Literal["steps", "epoch"] = "steps",
    diverged: Mapping[str, str] | None = None,
) -> Figure:
    """Three panels over runs: training loss, test accuracy, full training-set gradient norm.

    NaN/inf points (a diverged run) are left out of that run's lines, and its legend label ends
    with ``(diverged)`` when it is in ``diverged`` or its last training loss is not finite; a run
    in ``diverged`` is also marked where its loss line stops. The loss panel is log-scaled when
    every plotted loss is > 0 and they span more than a decade, the gradient panel likewise;
    far outliers below the bulk are floored (:func:`~optiscope.viz.levels.floor_log_axis`).

    Args:
        metrics: run label -> its per-epoch metrics (columns ``epoch, steps, train_loss,
            test_accuracy, grad_norm``, as the trainer stores them), in drawing order.
        title: names the model, data set and what is compared.
        x: the column on the x axis: ``"steps"`` (optimizer steps, fair across batch sizes) or
            ``"epoch"``.
        diverged: run label -> what to write where it stopped (``"diverged at step 28"``).

    Returns:
        A constrained-layout figure with one row of three axes and one legend.

    Raises:
        ValueError: for an unknown ``x``, no runs, or a run lacking a needed column.
    """
    if x not in _X_LABELS:
        raise ValueError(f"x must be one of {sorted(_X_LABELS)}, got {x!r}")
    _check_frames(metrics, (x, "train_loss", "test_accuracy", "grad_norm"), "metrics")
    figure = Figure(figsize=(15.0, 4.8), layout="constrained")
    loss, accuracy, gradient = figure.subplots(1, 3)
    handles, diverged = [], diverged or {}
    for index, (label, frame) in enumerate(metrics.items()):
        colour = colour_for(index)
        run_label = _run_label(label, frame, label in diverged)
        handles.append(_plot_finite(loss, frame[x], frame["train_loss"], "-", color=colour, label=run_label))
        _plot_finite(accuracy, frame[x], frame["test_accuracy"], "-", color=colour)
        _plot_finite(gradient, frame[x], frame["grad_norm"], "o-", color=colour, markersize=3)
    _log_if_positive(loss, handles)
    _log_if_positive(gradient, gradient.get_lines())
    _mark_diverged_runs(loss, metrics, x, diverged)
    xlabel = _X_LABELS[x]
    loss.set(title="training loss", xlabel=xlabel, ylabel="cross-entropy loss")
    accuracy.set(title="test accuracy", xlabel=xlabel, ylabel="accuracy", ylim=(0, 1))
    gradient.set(title="full training-set gradient norm", xlabel=xlabel, ylabel="||grad L||")
    for axes in (loss, accuracy, gradient):
        axes.grid(alpha=0.3)
    integer_ticks((loss, accuracy, gradient))
    _run_legend(figure, handles)
    figure.suptitle(title, wrap=True)
    return figure


def _class_columns(metrics: Mapping[str, pd.DataFrame]) -> list[str]:
    """The ``test_accuracy_class_k`` columns of the first run, ordered by class index ``k``."""
    first_label, first = next(iter(metrics.items()))
    suffixes = [column[len(_CLASS_PREFIX) :] for column in first.columns if column.startswith(_CLASS_PREFIX)]
    classes = sorted(int(suffix) for suffix in suffixes if suffix.isdigit())
    if not classes:
        raise ValueError(f"run {first_label!r}: its metrics frame lacks column(s) ['{_CLASS_PREFIX}0']")
    return [f"{_CLASS_PREFIX}{k}" for k in classes]


def per_class_accuracy_figure(metrics: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """Grouped bars of each run's last-row test accuracy per class: one group per class.

    Args:
        metrics: run label -> its per-epoch metrics with columns ``test_accuracy_class_0..K-1``;
            every run needs the classes of the first run.
        title: names the model, data set and what is compared.

    Returns:
        A constrained-layout figure with one axes; bar container ``i`` holds run ``i``'s bars.

    Raises:
        ValueError: for no runs, or a run lacking a class column.
    """
    _check_frames(metrics, (), "metrics")
    columns = _class_columns(metrics)
    _check_frames(metrics, columns, "metrics")
    classes = np.arange(len(columns))
    width = 0.8 / len(metrics)
    figure = Figure(figsize=(max(6.0, 0.5 * len(columns) * len(metrics) + 2.0), 4.5), layout="constrained")
    axes = figure.add_subplot()
    for index, (label, frame) in enumerate(metrics.items()):
        offset = (index - (len(metrics) - 1) / 2) * width
        heights = frame[columns].iloc[-1].to_numpy(dtype=float)
        axes.bar(classes + offset, heights, width, color=colour_for(index), label=label)
    axes.set(
        title="test accuracy per class (last epoch)",
        xlabel="class",
        ylabel="accuracy",
        ylim=(0, 1),
        xticks=classes,
    )
    axes.grid(alpha=0.3, axis="y")
    axes.legend(fontsize=8)
    figure.suptitle(title, wrap=True)
    return figure


def eigen_ratio_figure(eigs: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """Two panels over runs: the top two Hessian eigenvalues, and their ratio lambda1/lambda2.

    The seed report draws the last 100 iterations; the figure draws whatever steps the frames
    hold. The ratio panel is log-scaled when every plotted ratio is > 0, and marks ratio 1.

    Args:
        eigs: run label -> its tracked eigenvalues (columns ``step, lambda1, lambda2, ratio``),
            in drawing order.
        title: names the model, data set and what is compared.

    Returns:
        A constrained-layout figure: the left axes holds lambda1 (solid) then lambda2 (dashed)
        per run, the right axes one ratio line per run and then the line at 1.

    Raises:
        ValueError: for no runs, or a run lacking a needed column.
    """
    _check_frames(eigs, ("step", "lambda1", "lambda2", "ratio"), "eigenvalue")
    figure = Figure(figsize=(12.0, 4.8), layout="constrained")
    values, ratio = figure.subplots(1, 2)
    handles = []
    for index, (label, frame) in enumerate(eigs.items()):
        colour = colour_for(index)
        handles.append(_plot_finite(values, frame["step"], frame["lambda1"], "-", color=colour, label=label))
        _plot_finite(values, frame["step"], frame["lambda2"], "--", color=colour)
        _plot_finite(ratio, frame["step"], frame["ratio"], "-", color=colour)
    _log_if_positive(ratio, ratio.get_lines())
    ratio.axhline(1.0, color="grey", linestyle=":", linewidth=1.0)
    values.set(title="top Hessian eigenvalues: λ1 solid, λ2 dashed", xlabel="step", ylabel="eigenvalue")
    ratio.set(title="ratio of the two largest eigenvalues", xlabel="step", ylabel="λ1 / λ2")
    for axes in (values, ratio):
        axes.grid(alpha=0.3)
    integer_ticks((values, ratio))
    _run_legend(figure, handles)
    figure.suptitle(title, wrap=True)
    return figure


def along_direction_figure(curves: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """Loss along the top Hessian eigenvector (solid) and its quadratic model (dotted), per run.

    Args:
        curves: run label -> its curve (columns ``e`` the step size along the unit top
            eigenvector, ``loss`` the loss there, ``quadratic`` the second-order model), in
            drawing order.
        title: names the model, data set and what is compared.

    Returns:
        A constrained-layout figure with one axes: per run, the loss line then the quadratic line.

    Raises:
        ValueError: for no runs, or a run lacking a needed column.
    """
    _check_frames(curves, ("e", "loss", "quadratic"), "curve")
    figure = Figure(figsize=(7.5, 5.0), layout="constrained")
    axes = figure.add_subplot()
    for index, (label, frame) in enumerate(curves.items()):
        colour = colour_for(index)
        _plot_finite(axes, frame["e"], frame["loss"], "-", color=colour, label=label)
        _plot_finite(axes, frame["e"], frame["quadratic"], ":", color=colour)
    axes.set(
        title="loss (solid) and quadratic model (dotted), one colour per run",
        xlabel="step along the top Hessian eigenvector (alpha)",
        ylabel="loss",
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.suptitle(title, wrap=True)
    return figure
