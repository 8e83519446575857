"""Interactive (plotly) loss-landscape figures: a rotatable 3-D surface and a contour, with the path.

The same inputs as :mod:`optiscope.viz.landscape_figures` (a 2-D ``LandscapeGrid``, a
``PathProjection``, the centre gradient on the plane); each function returns a
``plotly.graph_objects.Figure`` that the report stores as plotly JSON, sized by the element it is
drawn in (no fixed pixel size). Grid points where the loss is not finite are blank. Hover gives
alpha, beta and the loss (and the step on the path); the share of the path's motion the plane
captures, with the off-plane warning below 10 %, is written on the figure. Nothing here evaluates
a loss or writes a file.
"""

from __future__ import annotations

from html import escape

import numpy as np
import plotly.graph_objects as go

from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection, PlaneGradient
from optiscope.viz.interactive import SCENE_ASPECT, _camera, _contour_trace, _thin_grid, _z_range
from optiscope.viz.landscape_figures import (
    capture_note,
    descent_arrow,
    diverged_note,
    loss_on_plane,
    path_coords,
    plane_arrays,
)
from optiscope.viz.palette import colour_for

__all__ = ["landscape_contour_plotly", "landscape_surface_plotly"]

_WARNING_COLOUR = "#D00000"
_PLANE_HOVER = "alpha %{x:.4g}<br>beta %{y:.4g}<br>loss %{z:.4g}<extra>landscape</extra>"
_PATH_HOVER = (
    "step %{customdata[0]:g}<br>alpha %{x:.4g}<br>beta %{y:.4g}"
    "<br>slice loss %{customdata[1]:.4g}<extra>path</extra>"
)


def _title(title: str, values: np.ndarray) -> dict:
    lines = [escape(line, quote=False) for line in (title, diverged_note(values)) if line]
    return {"text": "<br>".join(lines)}


def _notes(path: PathProjection | None) -> list[dict]:
    """Paper-anchored annotations: the captured share and, below the threshold, the warning."""
    if path is None:
        return []
    note, warning = capture_note(path)
    notes = [
        {
            "text": escape(note, quote=False),
            "x": 0.0,
            "y": 1.0,
            "xanchor": "left",
            "yanchor": "bottom",
            "name": "capture-note",
        }
    ]
    if warning:
        notes.append(
            {
                "text": escape(warning, quote=False).replace("\n", "<br>"),
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"color": _WARNING_COLOUR},
                "name": "off-plane-warning",
            }
        )
    return [{**item, "xref": "paper", "yref": "paper", "showarrow": False} for item in notes]


def _path_traces(coords: np.ndarray, steps: np.ndarray, slice_loss: np.ndarray, three_d: bool) -> list:
    """The path line (hover: step, alpha, beta, slice loss) and its start/end markers.

    In 3-D the line rides at ``slice_loss`` (the landscape's loss at each projected snapshot).
    """
    make = go.Scatter3d if three_d else go.Scatter
    position = np.column_stack([coords, slice_loss]) if three_d else coords

    def at(rows: np.ndarray) -> dict:
        return dict(zip(("x", "y", "z"), position[rows].T, strict=False))

    everything = np.arange(len(coords))
    line = make(
        **at(everything),
        mode="lines+markers",
        name="path",
        meta={"role": "path"},
        customdata=np.column_stack([steps, slice_loss]),
        hovertemplate=_PATH_HOVER,
        line={"color": colour_for(0), "width": 4},
        marker={"size": 3 if three_d else 6, "color": steps, "colorscale": "Plasma"},
    )
    ends = [
        make(
            **at(everything[[index]]),
            mode="markers",
            name=f"{name} (step {steps[index]:g})",
            meta={"role": name},
            marker={"size": 8, "symbol": symbol, "color": colour, "line": {"color": "black", "width": 1}},
        )
        for index, symbol, name, colour in (
            (0, "circle", "start", colour_for(0)),
            (-1, "x", "end", colour_for(2)),
        )
    ]
    return [line, *ends]


def landscape_surface_plotly(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    title: str = "",
    view: tuple[float, float] = (35.0, -60.0),
) -> go.Figure:
    """Rotatable 3-D surface of the loss over (alpha, beta), with the path riding on it.

    Args:
        grid: a 2-D ``LandscapeGrid``; the surface's ``z`` is ``loss.T`` (plotly indexes
            ``[beta, alpha]``), non-finite points become gaps, and the grid is thinned to at most
            150 points per axis.
        path: optional ``PathProjection``, drawn as a 3-D line at the slice's loss.
        title: figure title.
        view: ``(elevation, azimuth)`` of the initial camera, in degrees.

    Raises:
        SpecError: the grid is 1-D or its loss is nowhere finite.
    """
    alphas, betas, loss = plane_arrays(grid)
    xs, ys, zs = _thin_grid(alphas, betas, loss.T)
    low, high = _z_range(zs, None)
    surface = go.Surface(
        x=xs,
        y=ys,
        z=zs,
        colorscale="Viridis",
        cmin=low,
        cmax=high,
        opacity=0.9,
        colorbar={"title": {"text": "loss"}},
        hovertemplate=_PLANE_HOVER,
        name="landscape",
        meta={"role": "landscape"},
    )
    figure = go.Figure(surface)
    if path is not None:
        coords, steps = path_coords(path)
        for trace in _path_traces(coords, steps, loss_on_plane(alphas, betas, loss, coords), three_d=True):
            figure.add_trace(trace)
    figure.update_layout(
        title=_title(title, loss),
        annotations=_notes(path),
        scene={
            "xaxis": {"title": {"text": "alpha"}},
            "yaxis": {"title": {"text": "beta"}},
            "zaxis": {"title": {"text": "loss"}},
            "camera": _camera(view),
            "aspectmode": "manual",
            "aspectratio": SCENE_ASPECT,
        },
        legend={"orientation": "h", "y": -0.05, "yanchor": "top"},
        autosize=True,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return figure


def landscape_contour_plotly(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    gradient: PlaneGradient | None = None,
    title: str = "",
) -> go.Figure:
    """Filled contour of the loss over (alpha, beta) with the path and the descent arrow.

    Levels are log-spaced above the minimum when the loss spans decades (hover then still shows
    the loss). The gradient arrow runs from the centre along ``-g``, scaled to be visible.

    Raises:
        SpecError: the grid is 1-D or its loss is nowhere finite.
    """
    alphas, betas, loss = plane_arrays(grid)
    xs, ys, zs = _thin_grid(alphas, betas, loss.T)
    contour = _contour_trace(xs, ys, zs)
    value = "%{z:.4g}" if contour.customdata is None else "%{customdata:.4g}"
    contour.update(
        hovertemplate=_PLANE_HOVER.replace("%{z:.4g}", value), name="landscape", meta={"role": "landscape"}
    )
    figure = go.Figure(contour)
    if alphas.min() <= 0 <= alphas.max() and betas.min() <= 0 <= betas.max():
        star = {"symbol": "star", "size": 14, "color": "white", "line": {"color": "black", "width": 1}}
        figure.add_trace(
            go.Scatter(x=[0.0], y=[0.0], mode="markers", marker=star, name="centre", meta={"role": "centre"})
        )
    if path is not None:
        coords, steps = path_coords(path)
        for trace in _path_traces(coords, steps, loss_on_plane(alphas, betas, loss, coords), three_d=False):
            figure.add_trace(trace)
    annotations = _notes(path)
    arrow = descent_arrow(gradient, alphas, betas) if gradient is not None else None
    if arrow is not None:
        tip, label = arrow
        # The arrow (plotly puts an arrow's text at its tail, the centre) and, at its tip, the label.
        annotations.append(
            {
                "x": tip[0],
                "y": tip[1],
                "ax": 0.0,
                "ay": 0.0,
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 3,
                "arrowwidth": 2,
                "arrowcolor": _WARNING_COLOUR,
                "text": "",
                "name": "gradient",
            }
        )
        annotations.append(
            {
                "x": tip[0],
                "y": tip[1],
                "xref": "x",
                "yref": "y",
                "showarrow": False,
                "text": escape(label, quote=False).replace("\n", "<br>"),
                "name": "gradient-label",
                "xanchor": "left" if tip[0] >= 0 else "right",
                "font": {"color": _WARNING_COLOUR, "size": 10},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
        )
    figure.update_layout(
        title=_title(title, loss),
        annotations=annotations,
        xaxis={"title": {"text": "alpha"}, "range": [alphas.min(), alphas.max()]},
        yaxis={"title": {"text": "beta"}, "range": [betas.min(), betas.max()]},
        legend={"orientation": "h", "y": -0.15, "yanchor": "top"},
        autosize=True,
    )
    return figure
