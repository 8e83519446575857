"""Connectivity figures: loss and accuracy along the curves between two solutions (Garipov et al.,
2018, fig. 1 right), with each curve's barrier marked, and the Bezier control point's training loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optiscope.errors import SpecError
from optiscope.viz.palette import line_style_for

__all__ = ["bezier_training_figure", "connectivity_figure"]


def connectivity_figure(curves: pd.DataFrame, summary: pd.DataFrame, title: str = "") -> Figure:
    """Loss (left) and accuracy (right) against ``t`` for each curve; the figure is not saved.

    Each curve's maximum is marked and its barrier (maximum minus the mean of the end values) is
    named in the legend; a dotted line is drawn at the mean of the end values.

    Args:
        curves: long table with columns ``curve``, ``t``, ``loss``, ``accuracy``.
        summary: one row per curve with ``curve`` and ``barrier``.
        title: the figure title.

    Raises:
        SpecError: a table lacks a column.
    """
    missing = {"curve", "t", "loss", "accuracy"} - set(curves.columns) | (
        {"curve", "barrier"} - set(summary.columns)
    )
    if missing:
        raise SpecError(f"connectivity tables lack columns {sorted(missing)}")
    barriers = dict(zip(summary["curve"], summary["barrier"], strict=True))
    figure = Figure(figsize=(10.0, 3.8), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for index, (name, frame) in enumerate(curves.groupby("curve", sort=False)):
        frame = frame.sort_values("t")
        colour, style, marker = line_style_for(index)
        label = f"{name} (barrier {barriers.get(name, np.nan):.3g})"
        loss_axes.plot(frame["t"], frame["loss"], color=colour, linestyle=style, label=label)
        top = int(np.argmax(frame["loss"].to_numpy()))
        loss_axes.plot(
            frame["t"].iloc[top], frame["loss"].iloc[top], marker=marker, color=colour, linestyle=""
        )
        ends = 0.5 * (frame["loss"].iloc[0] + frame["loss"].iloc[-1])
        loss_axes.axhline(ends, color=colour, linewidth=0.7, linestyle=":")
        if np.isfinite(frame["accuracy"].to_numpy()).any():
            accuracy_axes.plot(frame["t"], frame["accuracy"], color=colour, linestyle=style, label=name)
    loss_axes.set_xlabel("t (0: run A, 1: run B)")
    loss_axes.set_ylabel("loss")
    loss_axes.legend(fontsize=8)
    accuracy_axes.set_xlabel("t (0: run A, 1: run B)")
    accuracy_axes.set_ylabel("accuracy")
    if accuracy_axes.lines:
        accuracy_axes.legend(fontsize=8)
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlim(0.0, 1.0)
        axes.grid(True, alpha=0.3)
    figure.suptitle(title, fontsize=10)
    return figure


def bezier_training_figure(training: pd.DataFrame, title: str = "") -> Figure:
    """The control point's training loss per step (raw, and a running mean over 50 steps)."""
    figure = Figure(figsize=(6.0, 3.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(training["step"], training["loss"], color="#7F7F7F", linewidth=0.6, alpha=0.6, label="per step")
    window = min(50, len(training))
    smooth = np.convolve(training["loss"].to_numpy(), np.ones(window) / window, mode="valid")
    axes.plot(training["step"].to_numpy()[window - 1 :], smooth, color="#EE7733", label=f"mean of {window}")
    axes.set_xlabel("Bezier training step")
    axes.set_ylabel("loss at a random t")
    axes.set_title(f"{title}: training the Bezier control point", fontsize=10, wrap=True)
    axes.legend(fontsize=8)
    axes.grid(True, alpha=0.3)
    return figure
