"""Interactive (plotly) figures of optimizer paths: rotatable 3-D surface, contour, basin maps.

Every function takes stored arrays (a surface grid, a :class:`PathSet`, basin maps) and returns a
``plotly.graph_objects.Figure``; :func:`to_html` and :func:`to_div` turn one into a string. Nothing
here runs an optimizer or writes a file. HTML from :func:`to_html` embeds plotly.js inline, so it
opens with no network; a report with many figures uses :func:`to_div` per figure and includes
:func:`plotly_js` once.

Sizes stay sane: a surface grid is thinned to at most 150 points per axis, each run's static line
to at most 500 positions, and at most ``max_runs_per_config`` runs per config are drawn. No figure
fixes its pixel size: each fills the element it is drawn in (``autosize``, responsive config).
Grid points where the loss is not finite are gaps (blank), never a plateau.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from optiscope.paths import DIVERGED, BasinMap, PathSet
from optiscope.viz.interactive_frames import add_animation, add_exit_markers, add_path_lines, drawn_tracks
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import colour_for
from optiscope.viz.path_marks import grid_window

__all__ = ["basin_figure", "contour_figure", "plotly_js", "surface_3d_figure", "to_div", "to_html"]

MAX_GRID_SIDE = 150
"""Surface grids are thinned (every k-th point) to at most this many points per axis."""
MAX_TRACK_POINTS = 500
"""A run's static line shows at most this many of its recorded positions, evenly spaced."""
_HTML_CONFIG = {"responsive": True, "displaylogo": False}
# Legends go above the plot: below it they collided with the play button and step slider.
_TOP_LEGEND = {"orientation": "h", "x": 0.0, "y": 1.0, "yanchor": "bottom", "xanchor": "left"}
_CAMERA_DISTANCE = 2.3  # far enough that the whole box, axis titles included, stays in view
SCENE_ASPECT = {"x": 1.0, "y": 1.0, "z": 0.6}
"""Box of a 3-D scene: flatter than a cube, so it fits a wide, short report panel."""


def _thin_grid(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every k-th grid point so that neither axis has more than ``MAX_GRID_SIDE`` points.

    Non-finite values become NaN, which plotly leaves blank (an infinity would be clipped to the
    top of the range and drawn as a plateau).
    """
    xs, ys, zs = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), np.asarray(zs, dtype=float)
    zs = np.where(np.isfinite(zs), zs, np.nan)
    step_x = -(-len(xs) // MAX_GRID_SIDE)
    step_y = -(-len(ys) // MAX_GRID_SIDE)
    return xs[::step_x], ys[::step_y], zs[::step_y, ::step_x]


def _z_range(zs: np.ndarray, zlim: tuple[float, float] | None) -> tuple[float, float]:
    """``zlim``, or the minimum to the 95th percentile so a few huge corners do not flatten the rest."""
    if zlim is not None:
        return float(zlim[0]), float(zlim[1])
    finite = zs[np.isfinite(zs)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(np.percentile(finite, 95))
    return low, high if high > low else low + 1.0


def _camera(view: tuple[float, float]) -> dict:
    """A plotly camera looking from ``(elevation, azimuth)`` degrees, matplotlib's convention."""
    elevation, azimuth = np.radians(view)
    eye = _CAMERA_DISTANCE * np.array(
        [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)]
    )
    return {"eye": {"x": float(eye[0]), "y": float(eye[1]), "z": float(eye[2])}}


def _surface_trace(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray, low: float, high: float) -> go.Surface:
    """The surface, its heights clipped to ``[low, high]``, coloured by loss."""
    return go.Surface(
        x=xs,
        y=ys,
        z=np.clip(zs, low, high),
        colorscale="Viridis",
        cmin=low,
        cmax=high,
        opacity=0.9,
        colorbar={"title": {"text": "loss"}, "x": 1.02},
        hovertemplate="x %{x:.4g}<br>y %{y:.4g}<br>loss %{z:.4g}<extra>surface</extra>",
        name="surface",
    )


def surface_3d_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    zlim: tuple[float, float] | None = None,
    max_runs_per_config: int = 20,
    frames: int = 60,
    view: tuple[float, float] = (30.0, -60.0),
    axis_names: tuple[str, str] = ("x", "y"),
) -> go.Figure:
    """Rotatable 3-D surface with every drawn path riding on it, animated step by step.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)``; thinned to at most 150 points per axis.
        paths: the runs; the first ``max_runs_per_config`` of each config are drawn, each cut at
            its last step and its static line subsampled to at most 500 positions.
        title: figure title (name the surface and its formula).
        zlim: z range; the surface and the paths' heights are clipped to it (hover shows the true
            loss). Default: the grid's minimum to its 95th percentile.
        max_runs_per_config: most runs drawn per config.
        frames: animation frames (fewer when the longest drawn run has fewer steps).
        view: ``(elevation, azimuth)`` of the initial camera, in degrees.
        axis_names: names of the two coordinates (``Surface.axis_names`` where it has them).

    Returns:
        The figure: surface, one static line per drawn run, a diamond where a run left the grid,
        then per config a trail and a ball that the play button and the step slider move (with
        at least two steps to show).
    """
    xs, ys, zs = _thin_grid(xs, ys, zs)
    low, high = _z_range(zs, zlim)
    lift = 0.01 * (high - low)  # paths float just above the surface so it does not hide them

    def make(x: np.ndarray, y: np.ndarray, losses: np.ndarray, steps: np.ndarray) -> go.Scatter3d:
        z = np.clip(losses, low, high) + lift
        return go.Scatter3d(x=x, y=y, z=z, customdata=np.column_stack([steps, losses]))

    figure = go.Figure(_surface_trace(xs, ys, zs, low, high))
    tracks = drawn_tracks(paths, max_runs_per_config, MAX_TRACK_POINTS)
    add_path_lines(figure, paths, tracks, make)
    add_exit_markers(figure, paths, tracks, grid_window(xs, ys), make)
    add_animation(figure, paths, tracks, frames=frames, make=make, redraw=True, ball_size=5, controls_y=0.12)
    figure.update_layout(
        title={"text": escape(title)},
        scene={
            "xaxis": {"title": {"text": axis_names[0]}, "range": [xs[0], xs[-1]]},
            "yaxis": {"title": {"text": axis_names[1]}, "range": [ys[0], ys[-1]]},
            "zaxis": {"title": {"text": "loss"}, "range": [low, high + 2 * lift]},
            "camera": _camera(view),
            "aspectmode": "manual",
            "aspectratio": SCENE_ASPECT,
            "domain": {"y": [0.14 if figure.frames else 0.0, 1.0]},  # room for the controls
        },
        legend=_TOP_LEGEND,
        autosize=True,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return figure


def _contour_trace(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> go.Contour:
    """Filled contour; levels spaced as :func:`contour_levels` decides (log above the minimum)."""
    levels = contour_levels(zs)
    spacing = np.diff(levels)
    style = {"x": xs, "y": ys, "colorscale": "Viridis", "name": "surface"}
    if np.allclose(spacing, spacing[0]):
        contours = {"start": levels[0], "end": levels[-1], "size": spacing[0]}
        hover = "x %{x:.4g}<br>y %{y:.4g}<br>loss %{z:.4g}<extra>surface</extra>"
        return go.Contour(z=zs, contours=contours, hovertemplate=hover, **style)
    # Log-spaced levels: draw log10(loss - min + first gap), whose even levels are those levels.
    shifted = np.log10(np.maximum(zs - levels[0], 0.0) + spacing[0])
    start, end = np.log10(spacing[0]), np.log10(levels[-1] - levels[0] + spacing[0])
    contours = {"start": start, "end": end, "size": (end - start) / (len(levels) - 1)}
    hover = "x %{x:.4g}<br>y %{y:.4g}<br>loss %{customdata:.4g}<extra>surface</extra>"
    colorbar = {"title": {"text": f"log10(loss - {levels[0]:.3g} + {spacing[0]:.2g})"}}
    return go.Contour(
        z=shifted, customdata=zs, contours=contours, hovertemplate=hover, colorbar=colorbar, **style
    )


def contour_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    minima: Sequence[Sequence[float]] = (),
    max_runs_per_config: int = 20,
    frames: int = 60,
    axis_names: tuple[str, str] = ("x", "y"),
) -> go.Figure:
    """Filled contour of the surface with every drawn path, animated step by step.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)``; thinned to at most 150 points per axis.
        paths: the runs; the first ``max_runs_per_config`` of each config are drawn, each cut at
            its last step and its static line subsampled to at most 500 positions.
        title: figure title (name the surface and its formula).
        minima: known minima, drawn as white stars.
        max_runs_per_config: most runs drawn per config.
        frames: animation frames (fewer when the longest drawn run has fewer steps).
        axis_names: names of the two coordinates (``Surface.axis_names`` where it has them).

    Returns:
        The figure: contour, one static line per drawn run, a diamond where a run left the grid,
        the minima, then per config a trail and a ball that the play button and the step slider
        move (with at least two steps to show).
    """
    xs, ys, zs = _thin_grid(xs, ys, zs)

    def make(x: np.ndarray, y: np.ndarray, losses: np.ndarray, steps: np.ndarray) -> go.Scatter:
        return go.Scatter(x=x, y=y, customdata=np.column_stack([steps, losses]))

    figure = go.Figure(_contour_trace(xs, ys, zs))
    tracks = drawn_tracks(paths, max_runs_per_config, MAX_TRACK_POINTS)
    add_path_lines(figure, paths, tracks, make)
    add_exit_markers(figure, paths, tracks, grid_window(xs, ys), make)
    if len(minima):
        known = np.asarray(minima, dtype=float).reshape(-1, 2)
        star = {"symbol": "star", "size": 14, "color": "white", "line": {"color": "black", "width": 1}}
        figure.add_trace(
            go.Scatter(x=known[:, 0], y=known[:, 1], mode="markers", marker=star, name="known minima")
        )
    add_animation(
        figure, paths, tracks, frames=frames, make=make, redraw=False, ball_size=11, controls_y=-0.1
    )
    figure.update_layout(
        title={"text": escape(title)},
        xaxis={"title": {"text": axis_names[0]}, "range": [xs[0], xs[-1]]},
        yaxis={"title": {"text": axis_names[1]}, "range": [ys[0], ys[-1]], "scaleanchor": "x"},
        legend=_TOP_LEGEND,
        autosize=True,
    )
    return figure


def _basin_outcomes(basin_map: BasinMap) -> np.ndarray:
    """Hover text per start: the minimum reached, or why none was."""
    names = ["diverged", "no known minimum reached"] + [
        f"minimum {k} at ({x:.3g}, {y:.3g})" for k, (x, y) in enumerate(basin_map.minima)
    ]
    return np.asarray(names, dtype=object)[basin_map.basin - DIVERGED]


def _basin_colour_axis(minima: np.ndarray) -> dict:
    """Discrete colours: black diverged, grey none, then one per minimum (as the static figure)."""
    colours = ["#000000", "#BBBBBB"] + [colour_for(k + 8) for k in range(len(minima))]
    scale = []
    for index, colour in enumerate(colours):
        scale += [[index / len(colours), colour], [(index + 1) / len(colours), colour]]
    ticks = ["diverged", "none"] + [f"minimum {k} ({x:.3g}, {y:.3g})" for k, (x, y) in enumerate(minima)]
    colorbar = {
        "tickvals": list(range(DIVERGED, len(minima))),
        "ticktext": ticks,
        "title": {"text": "ends at"},
    }
    return {"colorscale": scale, "cmin": DIVERGED - 0.5, "cmax": len(minima) - 0.5, "colorbar": colorbar}


def basin_figure(maps: Sequence[BasinMap], *, title: str) -> go.Figure:
    """One heatmap per config: colour is the minimum a run from that start reached.

    Args:
        maps: basin maps of one surface, one per optimizer config (labels name the settings).
        title: figure title (name the surface and its formula).

    Returns:
        Side-by-side heatmaps whose ``z`` are the maps' labels (``-2`` diverged, ``-1`` none,
        ``k`` minimum ``k``); hover gives the start point, the outcome and the steps taken.
    """
    shares = [basin_map.fractions() for basin_map in maps]
    titles = [
        f"{escape(m.label)}<br>none {s['unresolved']:.0%}, diverged {s['diverged']:.0%}"
        for m, s in zip(maps, shares, strict=True)
    ]
    figure = make_subplots(rows=1, cols=max(len(maps), 1), subplot_titles=titles, horizontal_spacing=0.04)
    for column, basin_map in enumerate(maps, start=1):
        hover = (
            f"<b>{escape(basin_map.label)}</b><br>start (%{{x:.3g}}, %{{y:.3g}})"
            "<br>%{text}<br>steps %{customdata}<extra></extra>"
        )
        heatmap = go.Heatmap(
            x=basin_map.xs,
            y=basin_map.ys,
            z=basin_map.basin,
            text=_basin_outcomes(basin_map),
            customdata=basin_map.steps,
            coloraxis="coloraxis",
            hovertemplate=hover,
            name=basin_map.label,
        )
        figure.add_trace(heatmap, row=1, col=column)
        figure.update_xaxes(title_text="start x", row=1, col=column)
    minima = maps[0].minima if maps else np.empty((0, 2))
    figure.update_layout(
        title={"text": f"{escape(title)}: minimum reached from each start"},
        coloraxis=_basin_colour_axis(minima),
        autosize=True,
    )
    figure.update_yaxes(title_text="start y", row=1, col=1)
    return figure


def to_html(figure: go.Figure, *, include_plotlyjs: bool = True) -> str:
    """A whole HTML page holding ``figure``; with plotly.js inline it opens with no network.

    Args:
        figure: any plotly figure.
        include_plotlyjs: embed plotly.js inline (about 4.8 MB). ``False`` leaves it out, for a
            page that loads it another way; a CDN link is never written.

    Raises:
        TypeError: ``include_plotlyjs`` is not a bool (plotly's ``"cdn"`` would need a network).
    """
    if not isinstance(include_plotlyjs, bool):
        raise TypeError(f"include_plotlyjs must be True or False, got {include_plotlyjs!r}")
    return figure.to_html(
        include_plotlyjs=include_plotlyjs, full_html=True, auto_play=False, config=_HTML_CONFIG
    )


def to_div(figure: go.Figure) -> str:
    """``figure`` as an HTML ``<div>`` without plotly.js, for a page that includes :func:`plotly_js`."""
    return figure.to_html(include_plotlyjs=False, full_html=False, auto_play=False, config=_HTML_CONFIG)


def plotly_js() -> str:
    """The plotly.js library as one inline ``<script>`` tag, to include once per page."""
    return f'<script type="text/javascript">{get_plotlyjs()}</script>'
