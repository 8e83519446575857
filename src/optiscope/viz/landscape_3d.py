"""A network's loss landscape as a 3-D surface (seed 000 fig. 2, seed 001 figs. 8-11).

Only what was measured is drawn: a grid cell becomes a facet when its four corners are finite
and at most the z-cap, so a diverged region or a cut-off peak is a hole, never a flat sheet
floating at the top of the box. The cap exists only when a few outliers (a loss of 1e14 in one
corner) would otherwise flatten the basin, and the figure says where it is and how much it hides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection
from optiscope.viz.landscape_plane import (
    describe,
    loss_on_plane,
    outside_count,
    path_coords,
    plane_arrays,
    write_capture,
)
from optiscope.viz.levels import DistinctFormatter
from optiscope.viz.palette import colour_for
from optiscope.viz.surface3d import surface_facets

__all__ = ["draw_surface_panel", "landscape_surface3d", "lifted_heights", "surface_cap"]

_FENCE_MADS = 20.0
"""Values this many median absolute deviations above the median are outliers (left blank in 3-D)."""
_MAX_CELLS = 60  # facets per axis at most (a 1001-point grid is thinned evenly)
_SURFACE_ALPHA = 0.85
_ZOOM = 0.85
_HALF_CHARACTER = 2.5  # points: about half a tick label character's width
_START_COLOUR, _END_COLOUR = colour_for(0), colour_for(2)


def surface_cap(loss: np.ndarray, keep: np.ndarray | None = None) -> float | None:
    """The height above which the surface is left blank, or ``None`` to draw all of it.

    Only far outliers are cut: values more than :data:`_FENCE_MADS` median absolute deviations
    above the median (robust while under half the grid has diverged). The cap is then the largest
    value inside that fence, raised to cover ``keep`` (e.g. the lifted path's heights) so the path
    stays on the surface.
    """
    finite = loss[np.isfinite(loss)]
    if finite.size == 0:
        return None
    median = float(np.median(finite))
    spread = float(np.median(np.abs(finite - median)))
    fence = median + _FENCE_MADS * spread
    if spread == 0.0 or finite.max() <= fence:
        return None
    cap = float(finite[finite <= fence].max())
    if keep is not None and np.isfinite(keep).any():
        cap = max(cap, float(np.nanmax(keep)))
    return cap if cap < finite.max() else None


def lifted_heights(arrays: tuple[np.ndarray, ...], path: PathProjection | None) -> np.ndarray | None:
    """The slice's loss at each of the path's projected snapshots (NaN off the grid), or ``None``."""
    if path is None:
        return None
    alphas, betas, loss = arrays
    return loss_on_plane(alphas, betas, loss, path_coords(path)[0])


def _facets(alphas: np.ndarray, betas: np.ndarray, loss: np.ndarray, cap: float | None) -> np.ndarray:
    """``(cells, 4, 3)`` corners ``(alpha, beta, loss)`` of the cells with no blank grid point,
    a point above ``cap`` counting as blank (:func:`surface_facets` leaves those cells out)."""
    heights = loss if cap is None else np.where(loss > cap, np.nan, loss)
    finite = heights[np.isfinite(heights)]
    if finite.size == 0:
        return np.empty((0, 4, 3))
    facets, _ = surface_facets(
        alphas, betas, heights.T, (float(finite.min()), float(finite.max())), _MAX_CELLS
    )
    return facets


def _label_z_axis(axes: Any) -> None:
    """Distinct z tick labels, pushed off the axis and the "loss" label pushed past them.

    3-D tick labels are centred on their tick, so the 7-digit labels of a flat landscape would
    otherwise cross the axis line and run into the axis label.
    """
    axes.zaxis.set_major_formatter(DistinctFormatter())
    labels = axes.zaxis.get_major_formatter().format_ticks(axes.zaxis.get_majorticklocs())
    longest = max((len(label) for label in labels), default=0)
    axes.zaxis.set_tick_params(pad=_HALF_CHARACTER * longest)  # the label's centre past its half width
    axes.set_zlabel("loss", labelpad=1.8 * _HALF_CHARACTER * longest)


def _cap_note(loss: np.ndarray, cap: float) -> str:
    above = int((loss[np.isfinite(loss)] > cap).sum())
    return (
        f"loss capped at {cap:.3g} (outliers beyond median + {_FENCE_MADS:g} MAD):\n"
        f"{above} of {loss.size} points above it left blank"
    )


def _draw_path(
    axes: Any, path: PathProjection, arrays: tuple[np.ndarray, ...], lift: float, size: float
) -> None:
    """The path lifted onto the surface (the slice's loss at each projected snapshot)."""
    alphas, betas, _ = arrays
    coords, _ = path_coords(path)
    height = lifted_heights(arrays, path) + lift
    axes.plot(coords[:, 0], coords[:, 1], height, "-", color=_START_COLOUR, linewidth=2, zorder=5, gid="path")
    for index, marker, colour in ((0, "o", _START_COLOUR), (-1, "X", _END_COLOUR)):
        if np.isfinite(height[index]):
            axes.plot(
                [coords[index, 0]],
                [coords[index, 1]],
                [height[index]],
                marker,
                color=colour,
                markersize=8,
                markeredgecolor="black",
                zorder=6,
            )
    write_capture(axes, path, outside=outside_count(coords, alphas, betas), three_d=True, size=size)


def draw_surface_panel(
    axes: Any,
    arrays: tuple[np.ndarray, ...],
    path: PathProjection | None,
    view: tuple[float, float] = (35.0, -60.0),
    text_size: float = 8,
    zlim: tuple[float, float] | None = None,
) -> tuple[Poly3DCollection, str]:
    """The drawable facets of ``loss (n_alpha, n_beta)`` on 3-D ``axes``, with the path on them.

    Args:
        axes: a 3-D axes.
        arrays: ``(alphas, betas, loss)`` from :func:`plane_arrays`.
        path: optional ``PathProjection``, lifted onto the surface.
        view: ``(elevation, azimuth)`` in degrees.
        text_size: font size of the notes.
        zlim: shared z-range of several panels; ``None`` picks it from this grid (see
            :func:`surface_cap`). Facets above its top are left blank.

    Returns:
        The surface's ``Poly3DCollection`` (gid ``surface``, one polygon per drawn cell) and
        ``""`` or a note of where the loss is capped and how many points lie above (for a title).
    """
    alphas, betas, loss = arrays
    finite = loss[np.isfinite(loss)]
    cap = surface_cap(loss, lifted_heights(arrays, path)) if zlim is None else zlim[1]
    low = float(finite.min()) if zlim is None else zlim[0]
    high = cap if cap is not None else float(finite.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        low, high = low - 0.5, high + 0.5
    corners = _facets(alphas, betas, loss, cap)
    colours = colormaps["viridis"](Normalize(low, high)(corners[..., 2].mean(axis=1)))
    surface = Poly3DCollection(
        corners,
        facecolors=colours,
        edgecolors=colours,
        linewidths=0,
        alpha=_SURFACE_ALPHA,
        shade=len(corners) > 0,
        gid="surface",
    )
    axes.computed_zorder = False  # the path stays above the surface instead of being depth-sorted away
    axes.add_collection3d(surface)
    axes.set(xlim=(alphas.min(), alphas.max()), ylim=(betas.min(), betas.max()), zlim=(low, high))
    axes.view_init(elev=view[0], azim=view[1])
    axes.set_box_aspect(None, zoom=_ZOOM)  # room for the z label beside the box
    axes.set_facecolor("none")  # a neighbouring panel's background must not cover that label
    axes.set_xlabel("alpha", labelpad=2)
    axes.set_ylabel("beta", labelpad=2)
    _label_z_axis(axes)
    if path is not None:
        _draw_path(axes, path, arrays, 0.01 * (high - low), text_size)
    return surface, _cap_note(loss, cap) if cap is not None and (finite > cap).any() else ""


def landscape_surface3d(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    title: str = "",
    view: tuple[float, float] = (35.0, -60.0),
    size: tuple[float, float] = (8.0, 6.5),
) -> Figure:
    """The loss over (alpha, beta) as a 3-D surface.

    Non-finite points and, when a few outliers would flatten the basin, points above the cap
    (:func:`surface_cap`) are holes in the surface, said in the title and a note. The path rides
    on the surface (the slice's loss at each projected snapshot), not at its true loss, which
    :func:`~optiscope.viz.path_fidelity.path_fidelity_figure` compares.
    """
    arrays = plane_arrays(grid)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot(projection="3d")
    _, note = draw_surface_panel(axes, arrays, path, view)
    axes.set_title("\n".join(filter(None, [describe(grid, title, arrays[2]), note])), fontsize=10)
    return figure
