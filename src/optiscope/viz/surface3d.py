"""Static 3-D figure of a surface with every optimizer's path drawn on it.

The helpers here (z-limits, the surface's facets, paths lifted onto the surface) are shared with
:mod:`optiscope.viz.animation`, whose rolling-ball animation draws the same scene frame by frame;
paths are cut to the grid and marked with :mod:`optiscope.viz.path_marks`. Nothing here runs an
optimizer or writes a file.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d import Axes3D
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from optiscope.paths import PathSet
from optiscope.viz.palette import line_style_for
from optiscope.viz.path_figures import drawn_starts, legend_label
from optiscope.viz.path_marks import (
    config_handle,
    exit_slots,
    grid_window,
    mark_ends,
    marker_handles,
    window_track,
)
from optiscope.viz.path_window import Window

__all__ = [
    "auto_zlim",
    "draw_surface",
    "drawn_runs",
    "lift_path",
    "path_zlim",
    "surface_3d_with_paths",
    "surface_facets",
]

# The surface is translucent so paths behind a ridge stay visible; paths and balls are drawn
# above it (fixed z-order) because matplotlib's 3-D depth sorting would otherwise hide them.
_SURFACE_ALPHA = 0.6
_SURFACE_ZORDER = 1
_PATH_ZORDER = 5
_MAX_FACETS_PER_SIDE = 60
_MAX_EXIT_TEXTS = 12  # more exits than this are marked without their "left at step k" text


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


def _coarse(count: int, most: int) -> np.ndarray:
    """Every k-th of ``count`` grid indices, the last one always kept, at most ``most + 1`` of them."""
    stride = max(1, -(-(count - 1) // most))
    return np.unique(np.append(np.arange(0, count, stride), count - 1))


def surface_facets(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    zlim: tuple[float, float],
    most: int = _MAX_FACETS_PER_SIDE,
) -> tuple[np.ndarray, np.ndarray]:
    """Quadrilateral facets of the surface, none over a grid point whose value is not finite.

    The grid is drawn with at most ``most`` facets per side; a facet is left out when any grid point
    it covers (its corners and every point between them) is NaN or infinite, so a hole in the data
    stays a hole. Heights are clipped to ``zlim``.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: values, shape ``(ny, nx)``.
        zlim: ``(low, high)`` the heights are clipped to.
        most: most facets per side.

    Returns:
        ``(facets (f, 4, 3), mean height of each facet (f,))``.
    """
    zs = np.asarray(zs, dtype=float)
    cols, rows = _coarse(len(xs), most), _coarse(len(ys), most)
    bad = np.pad((~np.isfinite(zs)).cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # summed-area table
    r0, r1, c0, c1 = rows[:-1], rows[1:] + 1, cols[:-1], cols[1:] + 1
    blanks = bad[np.ix_(r1, c1)] - bad[np.ix_(r0, c1)] - bad[np.ix_(r1, c0)] + bad[np.ix_(r0, c0)]
    heights = np.clip(zs[np.ix_(rows, cols)], *zlim)
    mesh_x, mesh_y = np.meshgrid(np.asarray(xs, dtype=float)[cols], np.asarray(ys, dtype=float)[rows])
    corners = np.stack([mesh_x, mesh_y, heights], axis=-1)
    quads = np.stack([corners[:-1, :-1], corners[:-1, 1:], corners[1:, 1:], corners[1:, :-1]], axis=2)
    keep = blanks == 0
    facets = quads[keep]
    return facets, facets[..., 2].mean(axis=1)


def _surface_notes(zs: np.ndarray, zlim: tuple[float, float]) -> list[str]:
    """What the drawing of ``zs`` hides: blank (non-finite) points and values clipped at the top."""
    values = np.asarray(zs, dtype=float)
    finite = np.isfinite(values)
    notes = []
    if not finite.all():
        notes.append(f"blank: {int((~finite).sum())} grid points where the loss is not finite")
    above = int((values[finite] > zlim[1]).sum())
    if above:
        notes.append(
            f"surface and paths flattened at loss {zlim[1]:.3g} ({above} of {values.size} grid points above)"
        )
    return notes


def draw_surface(
    axes: Axes3D,
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    zlim: tuple[float, float],
    view: tuple[float, float],
    axis_names: tuple[str, str] = ("x", "y"),
) -> list[str]:
    """Draw ``zs`` (shape ``(ny, nx)``, indexed ``[y, x]``) clipped to ``zlim`` on 3-D ``axes``.

    Non-finite points are left blank (see :func:`surface_facets`). Also sets the view, the axis
    limits and labels, and fixes the z-order so paths stay on top.

    Returns:
        Notes on what the drawing hides (blank points, clipped heights), for the figure to show.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    facets, heights = surface_facets(xs, ys, zs, zlim)
    axes.computed_zorder = False
    surface = Poly3DCollection(
        facets,
        cmap="viridis",
        norm=Normalize(*zlim),
        alpha=_SURFACE_ALPHA,
        linewidth=0,
        antialiased=False,
        zorder=_SURFACE_ZORDER,
        gid="surface",
    )
    surface.set_array(heights)
    axes.add_collection3d(surface)
    axes.view_init(elev=view[0], azim=view[1])
    (x_low, x_high), (y_low, y_high) = grid_window(xs, ys)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_zlim(*zlim)
    for axis in (axes.xaxis, axes.yaxis, axes.zaxis):
        axis.set_major_locator(MaxNLocator(5))  # the default crowds the tick labels of a tilted box
    # A smaller box leaves room for the tick and axis labels, which 3-D axes draw outside it.
    axes.set_box_aspect(None, zoom=0.92)
    # Padding keeps a minus sign apart from its tick mark and the axis names off the tick labels.
    axes.tick_params(axis="z", pad=6)
    axes.set_xlabel(axis_names[0], labelpad=8)
    axes.set_ylabel(axis_names[1], labelpad=8)
    axes.set_zlabel("loss", labelpad=12)
    return _surface_notes(zs, zlim)


def drawn_runs(paths: PathSet, max_runs_per_config: int) -> list[tuple[int, int]]:
    """``(run, config)`` pairs to draw: up to ``max_runs_per_config`` starts of each config,
    spread evenly over its starts."""
    starts = drawn_starts(paths.n_starts, max(1, max_runs_per_config))
    return [
        (config * paths.n_starts + int(start), config)
        for config in range(len(paths.specs))
        for start in starts
    ]


def lift_path(paths: PathSet, run: int, zlim: tuple[float, float]) -> np.ndarray:
    """Positions ``0..n_steps`` of ``run`` as ``(x, y, loss)`` rows, shape ``(n_steps + 1, 3)``.

    The loss is clipped to ``zlim`` (as the surface is); cut the result to the drawn window with
    :func:`window_track`.
    """
    last = int(paths.n_steps[run])
    track = np.column_stack([paths.points[run, : last + 1], paths.losses[run, : last + 1]])
    track[:, 2] = np.clip(track[:, 2], *zlim)
    return track


def path_zlim(
    paths: PathSet, runs: list[int], window: Window, zlim: tuple[float, float]
) -> tuple[float, float]:
    """``zlim`` lowered, when needed, to the lowest loss a drawn path reaches inside ``window``.

    A noisy surface's paths can dip below the grid's minimum; they are then drawn where they are
    rather than flattened onto the floor of the box.
    """
    lowest = zlim[0]
    for run in runs:
        track = lift_path(paths, run, (-np.inf, np.inf))
        losses = track[window_track(track, window).inside, 2]
        if losses.size:
            lowest = min(lowest, float(losses.min()))
    return lowest, zlim[1]


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
    axis_names: tuple[str, str] = ("x", "y"),
) -> Figure:
    """The surface in 3-D with each path drawn on it, from its start to its end.

    Markers as in the 2-D figures: a white circle at the start, the config's marker at the end;
    a path that ends outside the grid is cut at the border, where a ring says "left at step k".
    Grid points where the loss is not finite are left blank, and a note under the title says so.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)`` (``Surface.grid`` order).
        paths: the runs to draw; each config keeps its colour, line style and marker
            (:func:`line_style_for`).
        title: figure title (name the surface and its formula).
        view: ``(elevation, azimuth)`` in degrees (``Surface.view``).
        zlim: z-limits (``Surface.zlim``); ``None`` picks them with :func:`auto_zlim`. Lowered to
            the lowest loss a drawn path reaches inside the grid.
        max_runs_per_config: at most this many starts are drawn per config (the legend counts all).
        size: figure size in inches.
        axis_names: names of the two coordinates (``Surface.axis_names`` where it has them).

    Returns:
        A matplotlib ``Figure``; the legend gives each config's label and final loss.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    window = grid_window(xs, ys)
    runs = drawn_runs(paths, max_runs_per_config)
    limits = path_zlim(paths, [run for run, _ in runs], window, zlim if zlim is not None else auto_zlim(zs))
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot(projection="3d")
    notes = draw_surface(axes, xs, ys, zs, limits, view, axis_names)
    windowed = [window_track(lift_path(paths, run, limits), window) for run, _ in runs]
    slots = exit_slots(windowed, window, ended_outside=True)
    left = sum(slot is not None for slot in slots)
    for (_, config), track, slot in zip(runs, windowed, slots, strict=True):
        colour, linestyle, _ = line_style_for(config)
        axes.plot(*track.rows.T, color=colour, linestyle=linestyle, linewidth=1.8, zorder=_PATH_ZORDER)
        mark_ends(axes, track, config, window, slot if left <= _MAX_EXIT_TEXTS else None, _PATH_ZORDER + 1)
    if left > _MAX_EXIT_TEXTS:
        notes.append(f"{left} paths end outside the grid (rings: where they left)")
    figure.suptitle(title)
    axes.set_title("\n".join(notes), fontsize=8)
    handles = [config_handle(config, legend_label(paths, config)) for config in range(len(paths.specs))]
    figure.legend(
        handles=handles + marker_handles(left > 0), loc="outside lower center", fontsize=8, frameon=False
    )
    return figure
