"""Figures of a training run from its stored per-epoch metrics (seed 000 Table I, seed 001 fig. 1)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from optiscope.viz.levels import floor_log_axis
from optiscope.viz.palette import colour_for

__all__ = ["integer_ticks", "log_scale_if_wide", "mark_diverged", "training_curves"]

_DIVERGED_COLOUR = "#D00000"
_NOTE_WIDTH = 48  # characters per line of a divergence note
_WIDE = 10.0  # a log axis only when the values span more than this factor (one decade)


def log_scale_if_wide(axes: Axes, values: np.ndarray) -> bool:
    """Log y-axis, floored under outliers (:func:`floor_log_axis`), when the finite values are all
    positive and span more than a decade; a narrower range stays linear (readable tick labels).

    Returns:
        Whether the axis is now logarithmic.
    """
    data = np.asarray(values, dtype=float).ravel()
    finite = data[np.isfinite(data)]
    if not finite.size or finite.min() <= 0 or finite.max() / finite.min() <= _WIDE:
        return False
    axes.set_yscale("log")
    floor_log_axis(axes, finite)
    return True


def mark_diverged(
    axes: Axes, xs: np.ndarray, ys: np.ndarray, text: str, colour: str = _DIVERGED_COLOUR, slot: int = 0
) -> None:
    """An X at the last finite point of a run that diverged, and ``text`` pointing at it.

    The text (gid ``diverged``, wrapped) sits in the upper left of the axes, ``slot`` lines of
    notes down, so that several diverged runs' notes do not overlap; with no finite point it is
    written there without an arrow.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    finite = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    note = textwrap.fill(text, _NOTE_WIDTH)
    box = {"facecolor": "white", "alpha": 0.85, "edgecolor": _DIVERGED_COLOUR, "pad": 2}
    place = {"xytext": (0.03, 0.96 - 0.12 * slot), "textcoords": "axes fraction", "va": "top"}
    if not finite.size:
        axes.annotate(note, (0.03, 0.96 - 0.12 * slot), xycoords="axes fraction", va="top",
                      color=_DIVERGED_COLOUR, fontsize=8, bbox=box, gid="diverged")  # fmt: skip
        return
    x, y = xs[finite[-1]], ys[finite[-1]]
    axes.plot([x], [y], "X", color=colour, markersize=10, markeredgecolor="black", zorder=6)
    axes.annotate(note, (x, y), **place, color=_DIVERGED_COLOUR, fontsize=8, bbox=box, gid="diverged",
                  arrowprops={"arrowstyle": "->", "color": _DIVERGED_COLOUR})  # fmt: skip


def integer_ticks(axes_list: Sequence[Axes]) -> None:
    """Epochs and steps are counts: only whole numbers on their x-axes."""
    for axes in axes_list:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def training_curves(metrics: pd.DataFrame, *, title: str, diverged: str | None = None) -> Figure:
    """Four panels: loss, accuracy (train and test), full-data gradient norm, per-class accuracy.

    Args:
        metrics: one row per epoch, as the trainer stores it in ``metrics.parquet``.
        title: names the model, data set and optimizer with its hyperparameters.
        diverged: why the run stopped when it diverged (the trainer's ``stopped`` reason); the
            loss panel then marks its last epoch ``diverged at epoch N`` with the reason.
    """
    figure = Figure(figsize=(12.0, 8.0), layout="constrained")
    (loss, accuracy), (gradient, classes) = figure.subplots(2, 2)
    epochs = metrics["epoch"].to_numpy()
    for split, style in (("train", "-"), ("test", "--")):
        loss.plot(epochs, metrics[f"{split}_loss"], style, color=colour_for(0), label=split)
        accuracy.plot(epochs, metrics[f"{split}_accuracy"], style, color=colour_for(1), label=split)
    log_scale_if_wide(loss, metrics[["train_loss", "test_loss"]].to_numpy())
    loss.set(title="cross-entropy loss", xlabel="epoch", ylabel="loss")
    if diverged is not None:
        mark_diverged(loss, epochs, metrics["train_loss"].to_numpy(),
                      f"diverged at epoch {int(epochs[-1])}: {diverged}")  # fmt: skip
    accuracy.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    gradient.plot(epochs, metrics["grad_norm"], "o-", color=colour_for(2))
    log_scale_if_wide(gradient, metrics["grad_norm"].to_numpy())
    gradient.set(title="full training-set gradient norm", xlabel="epoch", ylabel="||grad L||")
    per_class = metrics.filter(like="test_accuracy_class_").iloc[-1]
    classes.bar(np.arange(len(per_class)), per_class.to_numpy(), color=colour_for(6))
    classes.set(title=f"test accuracy per class (epoch {int(epochs[-1])})", xlabel="class", ylabel="accuracy",
                ylim=(0, 1), xticks=np.arange(len(per_class)))  # fmt: skip
    integer_ticks((loss, accuracy, gradient))
    for axes in (loss, accuracy):
        axes.legend()
    for axes in (loss, accuracy, gradient):
        axes.grid(alpha=0.3)
    figure.suptitle(title, wrap=True)
    return figure
