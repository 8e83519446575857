"""Curvature figures: the tracked ratio ``lambda_1 / lambda_2`` (seed 001, fig. 3) and the spectral
density on a log scale (as Ghorbani et al. 2019 plot it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optiscope.curvature.density import SpectralDensity
from optiscope.curvature.errors import CurvatureError
from optiscope.viz.training_figures import integer_ticks

__all__ = ["density_figure", "ratio_figure"]


def ratio_figure(frame: pd.DataFrame, title: str = "ratio of the two largest Hessian eigenvalues") -> Figure:
    """Plot ``lambda_1 / lambda_2`` against the tracked step; the figure is not saved.

    Args:
        frame: :meth:`EigenTracker.to_frame` output (columns ``step`` and ``ratio``).
        title: axes title, wrapped to the figure's width.

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
    axes.set_title(title, fontsize=10, wrap=True)
    axes.grid(True, alpha=0.3)
    integer_ticks([axes])
    return figure


def density_figure(density: SpectralDensity, floor: float = 1e-8) -> Figure:
    """Plot the density against eigenvalue, density on a log axis; the figure is not saved.

    Args:
        density: the estimate from :func:`density`.
        floor: values below it are clipped so the log axis shows the tails down to ``floor``.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` with one axes.
    """
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.semilogy(density.grid, np.maximum(density.density, floor), color="tab:blue", linewidth=1.2)
    axes.set_xlabel("eigenvalue")
    axes.set_ylabel("density (log scale)")
    axes.set_title(
        f"Hessian spectral density (SLQ: {density.nodes.shape[0]} probes x {density.nodes.shape[1]} steps, "
        f"sigma={density.sigma:.2g})",
        fontsize=9,
        wrap=True,
    )
    axes.grid(True, which="major", alpha=0.3)
    return figure
