"""Static figures of optimizer paths on a 2-D surface: contour + paths, small multiples, basins.

Every function takes stored arrays (a surface grid, a :class:`PathSet`, basin maps) and returns
a matplotlib ``Figure``; nothing here runs an optimizer or writes a file.

What a reader can rely on: every drawn path has a start marker (white circle) and either an end
marker (its config's marker, at its last finite position) or, when it ends outside the window, an
exit ring where it crossed the border, with the step it left at; the axes are named after the
surface's parameters; the legend says how each config's runs ended (the runs table's outcome).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from optiscope.paths import PathSet
from optiscope.viz.basin_figures import basin_figure
from optiscope.viz.levels import contour_levels, label_colorbar
from optiscope.viz.loss_figures import loss_curves
from optiscope.viz.palette import line_style_for, outline_for
from optiscope.viz.path_labels import (
    drawn_runs,
    drawn_starts,
    format_loss,
    legend_label,
    outcome_step,
    outcome_text,
)
from optiscope.viz.path_window import Window, clip_track, fit_window, inside_window

__all__ = [
    "basin_figure",
    "contour_panels",
    "contour_with_paths",
    "drawn_runs",
    "drawn_starts",
    "format_loss",
    "legend_label",
    "loss_curves",
    "needs_panels",
]

AxisNames = tuple[str, str]
_START_STYLE = {
    "zorder": 4,
    "marker": "o",
    "color": "white",
    "markeredgecolor": "black",
    "markersize": 7,
    "linestyle": "none",
}
_EXIT_SIZE = 15
_NOTE_BOX = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5}


def _extent(xs: np.ndarray, ys: np.ndarray) -> Window:
    return (float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))


def needs_panels(paths: PathSet, window: Window, tolerance: float = 0.02) -> bool:
    """Whether one canvas hides configs: more than three of them, several configs with several
    starts each (their paths cross everywhere), or two whose first drawn paths run within
    ``tolerance`` of the window's span of each other for most of their length."""
    configs = len(paths.specs)
    if configs > 3 or (configs > 1 and paths.n_starts > 1):
        return True
    span = max(window[0][1] - window[0][0], window[1][1] - window[1][0])
    tracks = []
    for config in range(configs):
        run = config * paths.n_starts
        track = paths.points[run, : int(paths.n_steps[run]) + 1]
        track = track[np.isfinite(track).all(axis=1)]
        tracks.append(
            track[np.linspace(0, len(track) - 1, min(len(track), 200)).astype(int)] if len(track) else track
        )
    for i in range(configs):
        for j in range(i + 1, configs):
            if len(tracks[i]) and len(tracks[j]):
                nearest = np.linalg.norm(tracks[i][:, None] - tracks[j][None], axis=-1).min(axis=1)
                if np.median(nearest) <= tolerance * span:
                    return True
    return False


def _domain_levels(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray, domain: Window) -> np.ndarray:
    """Contour levels from the grid values inside the domain (all of them when none is).

    A window grown to hold a runaway path may reach values far beyond the domain's; levels over
    the whole window would then paint the domain, where the surface's features are, in one colour.
    Values outside these levels are drawn in the colour map's end colours (the colour bar's arrows).
    """
    (x_min, x_max), (y_min, y_max) = domain
    in_x = (xs >= x_min) & (xs <= x_max)
    in_y = (ys >= y_min) & (ys <= y_max)
    inner = zs[np.ix_(in_y, in_x)]
    return contour_levels(inner if np.isfinite(inner).any() else zs)


def _surface(
    axes: Axes, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray, levels: np.ndarray
) -> QuadContourSet:
    finite = zs[np.isfinite(zs)]
    below = finite.size and finite.min() < levels[0]
    above = finite.size and finite.max() > levels[-1]
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}
    filled = axes.contourf(xs, ys, zs, levels=levels, cmap="viridis", extend=extend[bool(below), bool(above)])
    axes.contour(xs, ys, zs, levels=levels[::3], colors="white", linewidths=0.4, alpha=0.5)
    return filled


def _colourbar(figure: Figure, filled: QuadContourSet, axes: Axes | Sequence[Axes]) -> None:
    colorbar = figure.colorbar(filled, ax=axes, label="loss")
    label_colorbar(colorbar)


class _Notes:
    """Places the step notes of one panel, moving a note further inward when another sits close by."""

    def __init__(self, axes: Axes, window: Window) -> None:
        self.axes = axes
        self.window = window
        self.placed: list[np.ndarray] = []

    def add(self, point: np.ndarray, text: str, colour: str) -> None:
        (x_min, x_max), (y_min, y_max) = self.window
        centre = np.array([(x_min + x_max) / 2, (y_min + y_max) / 2])
        scale = np.array([x_max - x_min, y_max - y_min])
        crowd = sum(bool(np.all(np.abs(point - other) < 0.08 * scale)) for other in self.placed)
        self.placed.append(point)
        inward = np.where(point <= centre, 1.0, -1.0)
        self.axes.annotate(
            text,
            xy=(float(point[0]), float(point[1])),
            xytext=(9 * inward[0], 9 * inward[1] - 11 * crowd * (1 if inward[1] < 0 else -1)),
            textcoords="offset points",
            ha="left" if inward[0] > 0 else "right",
            va="bottom" if inward[1] > 0 else "top",
            fontsize=7,
            color="black",
            bbox={**_NOTE_BOX, "edgecolor": colour, "linewidth": 1.2},
            gid="step-note",
        )


def _draw_config(axes: Axes, paths: PathSet, config: int, window: Window, notes: _Notes) -> bool:
    """Draw the drawn runs of ``config``; returns whether any of them left the window.

    The first run that left the window, and the first that diverged, get a note with the step.
    """
    colour, linestyle, marker = line_style_for(config)
    outline = outline_for(colour)
    stroke = [patheffects.withStroke(linewidth=3.6, foreground=outline)]
    alpha = 0.95 if paths.n_starts == 1 else 0.6
    first = config * paths.n_starts
    exited = diverged_noted = False
    for run in first + drawn_starts(paths.n_starts):
        clipped = clip_track(paths.points[run, : int(paths.n_steps[run]) + 1], window)
        if len(clipped.line):
            axes.plot(
                *clipped.line.T,
                color=colour,
                linestyle=linestyle,
                linewidth=1.6,
                alpha=alpha,
                path_effects=stroke,
                gid=f"path:{run}",
            )
        if inside_window(paths.points[run, 0], window):
            axes.plot(*paths.points[run, 0], **_START_STYLE, gid=f"start:{run}")
        if clipped.end is not None:
            axes.plot(
                *clipped.end,
                marker=marker,
                color=colour,
                markeredgecolor=outline,
                markersize=9,
                linestyle="none",
                zorder=4,
                gid=f"end:{run}",
            )
            if paths.status[run] == "diverged" and not diverged_noted:
                notes.add(clipped.end, f"diverged at step {outcome_step(paths, run)}", colour)
                diverged_noted = True
        if clipped.exit_point is not None:
            axes.plot(
                *clipped.exit_point,
                marker="o",
                markersize=_EXIT_SIZE,
                markerfacecolor="none",
                markeredgecolor=colour,
                markeredgewidth=2.4,
                linestyle="none",
                path_effects=stroke,
                clip_on=False,
                zorder=4,
                gid=f"exit:{run}",
            )
            if not exited:
                step = clipped.exit_step
                text = f"left at step {step}" if step else "outside the figure from its start"
                notes.add(clipped.exit_point, text, colour)
            exited = True
    return exited


def _outline_shows(domain: Window, window: Window) -> bool:
    """Whether some edge of the domain lies strictly inside the window (so its outline is seen)."""
    return any(low < edge < high for axis in (0, 1) for edge in domain[axis] for low, high in [window[axis]])


def _frame(
    axes: Axes, window: Window, domain: Window, minima: Sequence[Sequence[float]], axis_names: AxisNames
) -> list[Line2D]:
    """Limits, names, known minima and the domain's outline; returns their legend handles."""
    handles: list[Line2D] = []
    if len(minima):
        known = np.asarray(minima, dtype=float).reshape(-1, 2)
        (line,) = axes.plot(
            known[:, 0],
            known[:, 1],
            "*",
            color="white",
            markersize=14,
            markeredgecolor="black",
            zorder=3,
            label="known minima",
        )
        handles.append(line)
    if _outline_shows(domain, window):
        (x0, x1), (y0, y1) = domain
        box = Rectangle(
            (x0, y0),
            x1 - x0,
            y1 - y0,
            fill=False,
            edgecolor="white",
            linestyle="--",
            linewidth=1.0,
            label="the surface's domain",
            gid="domain",
        )
        axes.add_patch(box)
        handles.append(Line2D([], [], color="grey", linestyle="--", linewidth=1.0, label=box.get_label()))
    axes.set_xlim(*window[0])
    axes.set_ylim(*window[1])
    axes.set_xlabel(axis_names[0])
    axes.set_ylabel(axis_names[1])
    return handles


def _config_handle(config: int, label: str) -> Line2D:
    """A legend entry: the config's colour, line style and end marker (no outline: the legend's
    background is white)."""
    colour, linestyle, marker = line_style_for(config)
    return Line2D(
        [],
        [],
        color=colour,
        linestyle=linestyle,
        marker=marker,
        markersize=7,
        markeredgecolor=outline_for(colour),
        label=label,
    )


def _marker_handles(exited: bool) -> list[Line2D]:
    handles = [Line2D([], [], **_START_STYLE, label="start")]
    if exited:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                markersize=10,
                markerfacecolor="none",
                markeredgecolor="black",
                markeredgewidth=2,
                linestyle="none",
                label="left the figure (at the border)",
            )
        )
    return handles


def contour_with_paths(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    minima: Sequence[Sequence[float]] = (),
    window: Window | None = None,
    domain: Window | None = None,
    axis_names: AxisNames = ("x", "y"),
    size: tuple[float, float] = (9.0, 7.5),
) -> Figure:
    """Filled contour of the surface with every drawn path, its start and end, and the known minima.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``; the grid should cover ``window``.
        zs: surface values, shape ``(ny, nx)``.
        paths: the runs to draw (at most 60 per config are drawn; the legend counts them all).
        title: figure title (name the surface and its formula).
        minima: known minima, drawn as white stars.
        window: the region shown; default :func:`fit_window` of the domain and the drawn paths.
        domain: the surface's domain (outlined when the window is larger); default the grid's extent.
        axis_names: the surface's parameter names, for the axis labels.
    """
    domain = domain or _extent(xs, ys)
    window = window or fit_window(domain, paths.points[drawn_runs(paths)])
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    filled = _surface(axes, xs, ys, zs, _domain_levels(xs, ys, zs, domain))
    _colourbar(figure, filled, axes)
    notes = _Notes(axes, window)
    exited = False
    for config in range(len(paths.specs)):
        exited |= _draw_config(axes, paths, config, window, notes)
    frame = _frame(axes, window, domain, minima, axis_names)
    handles = [_config_handle(c, legend_label(paths, c)) for c in range(len(paths.specs))]
    handles += _marker_handles(exited) + frame
    axes.set_title(title)
    axes.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        fontsize=8,
        ncol=2 if len(handles) > 8 else 1,
        frameon=False,
    )
    return figure


def contour_panels(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    minima: Sequence[Sequence[float]] = (),
    window: Window | None = None,
    domain: Window | None = None,
    axis_names: AxisNames = ("x", "y"),
    size_per_panel: float = 3.6,
) -> Figure:
    """Small multiples: one panel per config on the same surface and window, each titled with the
    config's label and how its runs ended (for configs whose paths overlap on one canvas).

    Arguments as :func:`contour_with_paths`.
    """
    domain = domain or _extent(xs, ys)
    window = window or fit_window(domain, paths.points[drawn_runs(paths)])
    count = len(paths.specs)
    columns = min(4, max(count, 1))
    rows = math.ceil(count / columns)
    figure = Figure(
        figsize=(size_per_panel * columns + 1.2, size_per_panel * rows + 0.8), layout="constrained"
    )
    panels = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    levels = _domain_levels(xs, ys, zs, domain)
    filled = None
    for config, axes in enumerate(panels.ravel()):
        if config >= count:
            axes.set_visible(False)
            continue
        filled = _surface(axes, xs, ys, zs, levels)
        _draw_config(axes, paths, config, window, _Notes(axes, window))
        _frame(axes, window, domain, minima, axis_names)
        axes.label_outer()
        axes.set_title(f"{paths.labels[config]}\n{outcome_text(paths, config)}", fontsize=8)
    if filled is not None:
        _colourbar(figure, filled, panels.ravel().tolist())
    figure.suptitle(
        f"{title}: one panel per config (white circle: start; marker: end; ring: left the figure)"
    )
    return figure
