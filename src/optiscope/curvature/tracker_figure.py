"""Figure of the tracked eigenvalue ratio ``lambda_1 / lambda_2`` (seed 001, fig. 3)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from optiscope.curvature.errors import CurvatureError

__all__ = ["ratio_figure"]


def ratio_figure(frame: pd.DataFrame, title: str = "ratio of the two largest Hessian eigenvalues") -> Figure:
    """Plot ``lambda_1 / lambda_2`` against the tracked step; the figure is not saved.

    Args:
        frame: :meth:`EigenTracker.to_frame` output (columns ``step`` and ``ratio``).
        title: axes title.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` with one axes.

    Raises:
        CurvatureError: the frame lacks the ``step`` or ``ratio`` column.
    """
    missing = {"step", "ratio"} - set(frame.columns)
    if missing:
        raise CurvatureError(f"the frame lacks columns {sorted(missing)}; pass EigenTracker.to_frame()")
    figure = Figure(figsize=(6.0, 3.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(frame["step"], frame["ratio"], marker="o", markersize=3, linewidth=1.0, color="tab:red")
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel("tracked step")
    axes.set_ylabel(r"$\lambda_1 / \lambda_2$")
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    return figure
