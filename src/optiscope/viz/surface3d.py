"""Static 3-D figure of a surface with every optimizer's path drawn on it.

The helpers here (z-limits, the clipped surface, paths lifted onto the surface) are shared with
:mod:`optiscope.viz.animation`, whose rolling-ball animation draws the same scene frame by frame.
Nothing here runs an optimizer or writes a file.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d import Axes3D

from optiscope.paths import PathSet
from optiscope.viz.palette import colour_for
from optiscope.viz.path_figures import drawn_starts, legend_label

__all__ = ["auto_zlim", "draw_surface", "drawn_runs", "lift_path", "surface_3d_with_paths"]

# The surface is translucent so paths behind a ridge stay visible; paths and balls are drawn
# above it (fixed z-order) because matplotlib's 3-D depth sorting would otherwise hide them.
_SURFACE_ALPHA = 0.6
_SURFACE_ZORDER = 1
_PATH_ZORDER = 5


def auto_zlim(zs: np.ndarray, upper_percentile: float = 95.0) -> tuple[float, float]:
    """z-limits that keep a 3-D surface readable: its minimum up to a high percentile.

    Surfaces such as Rosenbrock rise by orders of magnitude at the edge of their domain; scaling the
    z-axis to the maximum would flatten the valley the optimizers travel in, so the top is the
    ``upper_percentile`` of the finite values (plus a 5 % margin) and anything above is clipped.

    Args:
        zs: surface values, any shape.
        upper_percentile: percentile of the finite values used as the top.

    Returns:
        ``(low, high)`` with ``low < high``.
    """
    finite = np.asarray(zs, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    low = float(finite.min())
    high = float(np.percentile(finite, upper_percentile))
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return low - 0.5, high + 0.5
    return low, high + 0.05 * (high - low)


def draw_surface(
    axes: Axes3D,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    zlim: tuple[float, float],
    view: tuple[float, float],
) -> None:
    """Draw ``zs`` (shape ``(ny, nx)``, indexed ``[y, x]``) clipped to ``zlim`` on 3-D ``axes``.

    Also sets the view, the axis limits and labels, and fixes the z-order so paths stay on top.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    mesh_x, mesh_y = np.meshgrid(xs, ys)
    clipped = np.clip(np.nan_to_num(np.asarray(zs, dtype=float), nan=zlim[1]), *zlim)
    axes.computed_zorder = False
    axes.plot_surface(
        mesh_x,
        mesh_y,
        clipped,
        cmap="viridis",
        vmin=zlim[0],
        vmax=zlim[1],
        alpha=_SURFACE_ALPHA,
        linewidth=0,
        antialiased=False,
        rcount=50,
        ccount=50,
        zorder=_SURFACE_ZORDER,
    )
    axes.view_init(elev=view[0], azim=view[1])
    axes.set_xlim(xs[0], xs[-1])
    axes.set_ylim(ys[0], ys[-1])
    axes.set_zlim(*zlim)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_zlabel("loss")


def drawn_runs(paths: PathSet, max_runs_per_config: int) -> list[tuple[int, int]]:
    """``(run, config)`` pairs to draw: up to ``max_runs_per_config`` starts of each config,
    spread evenly over its starts."""
    starts = drawn_starts(paths.n_starts, max(1, max_runs_per_config))
    return [
        (config * paths.n_starts + int(start), config)
        for config in range(len(paths.specs))
        for start in starts
    ]


def lift_path(
    paths: PathSet,
    run: int,
    last: int,
    xs: np.ndarray,
    ys: np.ndarray,
    zlim: tuple[float, float],
) -> np.ndarray:
    """Positions ``0..last`` of ``run`` as ``(x, y, loss)`` rows, shape ``(last + 1, 3)``.

    The loss is clipped to ``zlim`` (as the surface is) and points outside the drawn domain become
    NaN, so a diverging run leaves the box instead of stretching the axes.
    """
    track = np.column_stack([paths.points[run, : last + 1], paths.losses[run, : last + 1]])
    track[:, 2] = np.clip(track[:, 2], *zlim)
    outside = (
        (track[:, 0] < min(xs[0], xs[-1]))
        | (track[:, 0] > max(xs[0], xs[-1]))
        | (track[:, 1] < min(ys[0], ys[-1]))
        | (track[:, 1] > max(ys[0], ys[-1]))
    )
    track[outside] = np.nan
    return track


def surface_3d_with_paths(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    view: tuple[float, float] = (30.0, -60.0),
    zlim: tuple[float, float] | None = None,
    max_runs_per_config: int = 20,
    size: tuple[float, float] = (9.0, 7.5),
) -> Figure:
    """The surface in 3-D with each path drawn on it, from its start (o) to its end (X).

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)`` (``Surface.grid`` order).
        paths: the runs to draw; each config keeps its colour from :func:`colour_for`.
        title: figure title (name the surface and its formula).
        view: ``(elevation, azimuth)`` in degrees (``Surface.view``).
        zlim: z-limits (``Surface.zlim``); ``None`` picks them with :func:`auto_zlim`.
        max_runs_per_config: at most this many starts are drawn per config (the legend counts all).
        size: figure size in inches.

    Returns:
        A matplotlib ``Figure``; the legend gives each config's label and final loss.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    limits = zlim if zlim is not None else auto_zlim(zs)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot(projection="3d")
    draw_surface(axes, xs, ys, zs, limits, view)
    for run, config in drawn_runs(paths, max_runs_per_config):
        colour = colour_for(config)
        track = lift_path(paths, run, int(paths.n_steps[run]), xs, ys, limits)
        first_of_config = run == config * paths.n_starts
        label = legend_label(paths, config) if first_of_config else None
        axes.plot(*track.T, "-", color=colour, linewidth=1.6, zorder=_PATH_ZORDER, label=label)
        for point, marker, size_pt in ((track[0], "o", 5), (track[-1], "X", 8)):
            if np.isfinite(point).all():
                axes.plot(
                    *point[:, None],
                    marker,
                    color=colour,
                    markersize=size_pt,
                    markeredgecolor="black",
                    zorder=_PATH_ZORDER + 1,
                )
    axes.set_title(title)
    figure.legend(loc="outside lower center", fontsize=8, frameon=False)
    return figure
