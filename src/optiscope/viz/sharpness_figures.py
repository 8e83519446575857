"""Sharpness along training against the optimizer's stability threshold (Cohen et al. 2021, 2022)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optiscope.errors import SpecError

__all__ = ["sharpness_figure"]

_LABELS = {
    "hessian": r"$\lambda_{max}(H)$",
    "preconditioned": r"$\lambda_{max}(P^{-1/2} H P^{-1/2})$",
}


def sharpness_figure(frame: pd.DataFrame, title: str = "sharpness along training") -> Figure:
    """``lambda_max`` of the Hessian and of the preconditioned Hessian per tracked step, with the
    stability threshold of the sharpness it applies to; the figure is not saved.

    Args:
        frame: the ``sharpness.parquet`` table (:data:`optiscope.nets.sharpness.SHARPNESS_COLUMNS`).
        title: the axes title.

    Raises:
        SpecError: the frame lacks a column.
    """
    missing = {"step", "lambda_max", "preconditioned_lambda_max", "threshold", "compared"} - set(
        frame.columns
    )
    if missing:
        raise SpecError(f"the sharpness table lacks columns {sorted(missing)}")
    figure = Figure(figsize=(6.5, 3.8), layout="constrained")
    axes = figure.add_subplot()
    series = {"hessian": frame["lambda_max"], "preconditioned": frame["preconditioned_lambda_max"]}
    colours = {"hessian": "#33BBEE", "preconditioned": "#EE7733"}
    for name, values in series.items():
        if np.isfinite(values.to_numpy(dtype=float)).any():
            axes.plot(
                frame["step"], values, color=colours[name], marker="o", markersize=3, label=_LABELS[name]
            )
    compared = str(frame["compared"].iloc[-1]) if len(frame) else "none"
    threshold = frame["threshold"].to_numpy(dtype=float)
    if compared in colours and np.isfinite(threshold).any():
        axes.step(frame["step"], threshold, where="post", color=colours[compared], linestyle="--",
                  label=f"stability threshold of {_LABELS[compared]}")  # fmt: skip
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("sharpness")
    axes.set_title(title, fontsize=10, wrap=True)
    axes.grid(True, alpha=0.3)
    if axes.lines:
        axes.legend(fontsize=8)
    return figure
