"""Figures of a training run from its stored per-epoch metrics (seed 000 Table I, seed 001 fig. 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optiscope.viz.palette import colour_for

__all__ = ["training_curves"]


def training_curves(metrics: pd.DataFrame, *, title: str) -> Figure:
    """Four panels: loss, accuracy (train and test), full-data gradient norm, per-class accuracy.

    Args:
        metrics: one row per epoch, as the trainer stores it in ``metrics.parquet``.
        title: names the model, data set and optimizer with its hyperparameters.
    """
    figure = Figure(figsize=(12.0, 8.0), layout="constrained")
    (loss, accuracy), (gradient, classes) = figure.subplots(2, 2)
    epochs = metrics["epoch"].to_numpy()
    for split, style in (("train", "-"), ("test", "--")):
        loss.plot(epochs, metrics[f"{split}_loss"], style, color=colour_for(0), label=split)
        accuracy.plot(epochs, metrics[f"{split}_accuracy"], style, color=colour_for(1), label=split)
    finite = metrics["train_loss"].to_numpy()
    if np.isfinite(finite).all() and (finite > 0).all():
        loss.set_yscale("log")
    loss.set(title="cross-entropy loss", xlabel="epoch", ylabel="loss")
    accuracy.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    gradient.plot(epochs, metrics["grad_norm"], "o-", color=colour_for(2))
    gradient.set(title="full training-set gradient norm", xlabel="epoch", ylabel="||grad L||", yscale="log")
    per_class = metrics.filter(like="test_accuracy_class_").iloc[-1]
    classes.bar(np.arange(len(per_class)), per_class.to_numpy(), color=colour_for(6))
    classes.set(title=f"test accuracy per class (epoch {int(epochs[-1])})", xlabel="class", ylabel="accuracy",
                ylim=(0, 1), xticks=np.arange(len(per_class)))  # fmt: skip
    for axes in (loss, accuracy):
        axes.legend()
    for axes in (loss, accuracy, gradient):
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    return figure
