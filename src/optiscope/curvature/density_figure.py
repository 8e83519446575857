"""Figure of a Hessian eigenvalue density on a log scale (as Ghorbani et al. 2019 plot it)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from optiscope.curvature.density import SpectralDensity

__all__ = ["density_figure"]


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
    )
    axes.grid(True, which="major", alpha=0.3)
    return figure
