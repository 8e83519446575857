"""Curvature figures: the tracked ratio ``lambda_1 / lambda_2`` (seed 001, fig. 3), the spectral
density on a log scale (as Ghorbani et al. 2019 plot it), and per-layer ``lambda_1`` and trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optiscope.curvature.density import SpectralDensity
from optiscope.curvature.errors import CurvatureError
from optiscope.viz.training_figures import integer_ticks

__all__ = ["density_figure", "layers_figure", "ratio_figure", "spans_a_decade"]


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


def spans_a_decade(values: np.ndarray) -> bool:
    """Whether ``values`` are all positive and finite and their largest is over 10x their smallest."""
    values = np.asarray(values, dtype=np.float64)
    return bool(
        values.size and np.all(np.isfinite(values)) and values.min() > 0 and values.max() > 10 * values.min()
    )


def layers_figure(frame: pd.DataFrame, title: str = "Hessian blocks per layer") -> Figure:
    """Horizontal bars of each layer's ``lambda_1`` beside its trace (with 2 standard errors).

    Layers run top to bottom in model order; an axis is logarithmic when its values span more
    than a decade (and are positive). The figure is not saved.

    Args:
        frame: :meth:`LayerCurvature.to_frame` output (``layer``, ``n_params``, ``lambda1``,
            ``trace``, ``trace_stderr``).
        title: figure title.

    Returns:
        A matplotlib :class:`~matplotlib.figure.Figure` with two axes sharing the layer axis.

    Raises:
        CurvatureError: the frame lacks a needed column or has no rows.
    """
    missing = {"layer", "n_params", "lambda1", "trace", "trace_stderr"} - set(frame.columns)
    if missing or frame.empty:
        raise CurvatureError(
            f"the frame lacks columns {sorted(missing)} or rows; pass LayerCurvature.to_frame()"
        )
    rows = np.arange(len(frame))
    labels = [f"{layer} ({n:,})" for layer, n in zip(frame["layer"], frame["n_params"], strict=True)]
    figure = Figure(figsize=(8.0, 1.2 + 0.45 * len(frame)), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    panels = ((left, "lambda1", None, "tab:red", r"top eigenvalue $\lambda_1$ of the block"),
              (right, "trace", "trace_stderr", "tab:blue", "trace of the block (+- 2 s.e.)"))  # fmt: skip
    for axes, column, error, colour, label in panels:
        values = frame[column].to_numpy(dtype=np.float64)
        spread = None if error is None else 2.0 * frame[error].to_numpy(dtype=np.float64)
        axes.barh(rows, values, xerr=spread, color=colour, alpha=0.8, capsize=3)
        if spans_a_decade(values):
            axes.set_xscale("log")
        axes.set_xlabel(label + (" (log scale)" if axes.get_xscale() == "log" else ""))
        axes.grid(True, axis="x", which="major", alpha=0.3)
    left.set_yticks(rows, labels)
    left.invert_yaxis()
    left.set_ylabel("layer (parameters)")
    figure.suptitle(title, fontsize=10, wrap=True)
    return figure
