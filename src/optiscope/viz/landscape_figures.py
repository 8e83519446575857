"""Static figures of a network's loss landscape: contour, heat map, 1-D curve (and re-exports).

After Li et al. (2018), "Visualizing the loss landscape of neural nets"; seed 000 figs. 1-6 and
seed 001 figs. 2, 4-11. Every function takes stored results and returns a matplotlib ``Figure``;
nothing here evaluates a loss or writes a file. The inputs (grid, path, gradient) are described
in :mod:`optiscope.viz.landscape_plane`; the 3-D surface lives in
:mod:`optiscope.viz.landscape_3d`, the side-by-side panels in :mod:`optiscope.viz.landscape_panels`
and the path-fidelity figure in :mod:`optiscope.viz.path_fidelity`. Non-finite losses (diverged
points) are left blank and counted in the title.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from optiscope.errors import SpecError
from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection, PlaneGradient
from optiscope.viz.interactive_frames import _finite_or_nan
from optiscope.viz.landscape_3d import landscape_surface3d
from optiscope.viz.landscape_panels import landscape_panels
from optiscope.viz.landscape_plane import (
    OFF_PLANE_THRESHOLD,
    Limits,
    capture_note,
    descent_arrow,
    describe,
    diverged_note,
    draw_plane,
    legend_below,
    loss_on_plane,
    path_coords,
    plane_arrays,
    plane_levels,
)
from optiscope.viz.levels import floor_log_axis, label_colorbar
from optiscope.viz.palette import colour_for
from optiscope.viz.path_fidelity import path_fidelity_figure

__all__ = [
    "OFF_PLANE_THRESHOLD",
    "capture_note",
    "descent_arrow",
    "diverged_note",
    "landscape_contour",
    "landscape_curve",
    "landscape_heatmap",
    "landscape_panels",
    "landscape_surface3d",
    "loss_on_plane",
    "path_coords",
    "path_fidelity_figure",
    "plane_arrays",
]


def landscape_contour(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    gradient: PlaneGradient | None = None,
    title: str = "",
    log_levels: bool | None = None,
    size: tuple[float, float] = (8.0, 6.5),
    limits: tuple[Limits, Limits] = (None, None),
) -> Figure:
    """Filled contour and contour lines of the loss over (alpha, beta), as Li et al. fig. 1.

    Args:
        grid: a 2-D ``LandscapeGrid``.
        path: optional ``PathProjection``, drawn with start/end and snapshots coloured by step; the
            figure states the share of its motion the plane captures and warns below 10 %.
        gradient: optional centre gradient on the plane, drawn from the centre along ``-g``
            (its length scaled to 30 % of the shorter side). It is drawn as given: to be normal to
            the contours it must be the slice's own gradient ``(g.d1, g.d2)``, which equals the
            projection's coordinates when the directions are orthonormal.
        title: first title line; the directions, data and any non-finite count follow.
        log_levels: ``None`` lets :func:`contour_levels` decide, ``True``/``False`` force log/linear.
        size: figure size in inches.
        limits: ``(alpha range, beta range)`` of the axes; ``None`` is the grid's own.

    Raises:
        SpecError: the grid is 1-D, or its loss is nowhere finite.
    """
    arrays = plane_arrays(grid)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    levels = plane_levels(arrays[2], log_levels)
    filled, points, _ = draw_plane(axes, "contour", arrays, levels, path, gradient, limits=limits)
    spacing = np.diff(filled.levels)
    spaced = "linear" if np.allclose(spacing, spacing[0]) else "log-spaced above the minimum"
    label_colorbar(figure.colorbar(filled, ax=axes, label=f"loss (levels {spaced})"))
    legend_below(figure, axes)
    if points is not None:
        figure.colorbar(points, ax=axes, label="path step", pad=0.01)
    axes.set_title(describe(grid, title, arrays[2]), fontsize=10)
    return figure


def landscape_heatmap(
    grid: LandscapeGrid,
    metric: str = "loss",
    path: PathProjection | None = None,
    title: str = "",
    size: tuple[float, float] = (7.5, 6.0),
    limits: tuple[Limits, Limits] = (None, None),
) -> Figure:
    """Heat map of ``loss`` or ``accuracy`` over (alpha, beta) (seed 001 figs. 4-7).

    ``limits`` is ``(alpha range, beta range)`` of the axes; ``None`` is the grid's own.

    Raises:
        SpecError: unknown metric, a 1-D grid, or a metric that is nowhere finite (e.g. no accuracy).
    """
    if metric not in ("loss", "accuracy"):
        raise SpecError(f"heat map metric must be 'loss' or 'accuracy', got {metric!r}")
    alphas, betas, loss = plane_arrays(grid)
    values = loss if metric == "loss" else _finite_or_nan(np.asarray(grid.accuracy, dtype=float))
    if not np.isfinite(values).any():
        raise SpecError(f"the landscape grid holds no finite {metric} values")
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    levels = plane_levels(values, None if metric == "loss" else False)
    cmap = "viridis" if metric == "loss" else "magma"
    mesh, _, _ = draw_plane(axes, "heatmap", (alphas, betas, values), levels, path, cmap=cmap, limits=limits)
    label_colorbar(figure.colorbar(mesh, ax=axes, label=metric))
    legend_below(figure, axes)
    axes.set_title(describe(grid, title, values), fontsize=10)
    return figure


def landscape_curve(
    grid: LandscapeGrid,
    title: str = "",
    quadratic: np.ndarray | None = None,
    size: tuple[float, float] = (8.0, 4.8),
    label: str = "loss",
    xlabel: str | None = None,
) -> Figure:
    """Loss along a line with accuracy on a twin axis (Li et al. interpolation plots).

    Args:
        grid: a 1-D ``LandscapeGrid`` (``betas`` is ``None``).
        title: first title line.
        quadratic: optional ``(n_alpha,)`` second-order model, e.g. ``L + a g.v + a^2 lambda / 2``
            along the top Hessian eigenvector (seed 001 fig. 2), drawn dashed beside the loss.
        size: figure size in inches.
        label: legend entry of the loss curve (e.g. the run's name).
        xlabel: the x-axis label; ``None`` names the line the grid's directions describe.

    Raises:
        SpecError: the grid is 2-D or ``quadratic`` does not match ``alphas``.
    """
    if grid.betas is not None or np.ndim(grid.loss) != 1:
        raise SpecError("landscape_curve draws a 1-D line (betas None); use landscape_contour for a plane")
    alphas = np.asarray(grid.alphas, dtype=float)
    loss = _finite_or_nan(np.asarray(grid.loss, dtype=float))
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(alphas, loss, "-", color=colour_for(6), linewidth=2, label=label, gid="loss")
    if quadratic is not None:
        model = np.asarray(quadratic, dtype=float)
        if model.shape != alphas.shape:
            raise SpecError(f"quadratic has shape {model.shape}, expected {alphas.shape} (one per alpha)")
        axes.plot(alphas, model, "--", color=colour_for(2), linewidth=1.6, gid="quadratic",
                  label="second-order model L + a g.v + a^2 lambda/2")  # fmt: skip
    finite = loss[np.isfinite(loss)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        axes.set_yscale("log")
        floor_log_axis(axes, finite)
    if alphas.min() <= 0 <= alphas.max():
        axes.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
    handles, labels = axes.get_legend_handles_labels()
    accuracy = getattr(grid, "accuracy", None)
    accuracy = None if accuracy is None else _finite_or_nan(np.asarray(accuracy, dtype=float))
    if accuracy is not None and np.isfinite(accuracy).any():
        twin = axes.twinx()
        twin.plot(alphas, accuracy, "-", color=colour_for(0), linewidth=1.6, label="accuracy", gid="accuracy")
        twin.set_ylabel("accuracy", color=colour_for(0))
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    interpolate = (getattr(grid, "attrs", None) or {}).get("directions_kind") == "interpolate"
    default = "alpha (0: first model, 1: second model)" if interpolate else "alpha (step along direction)"
    axes.set_xlabel(xlabel or default)
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    figure.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    axes.set_title(describe(grid, title, loss), fontsize=10, wrap=True)
    return figure
