"""Several landscapes side by side (seed 000 fig. 1 per batch, fig. 3 per optimizer, figs. 4-6).

Panels share one colour scale (or z-range) so that equal colours mean equal losses, unless that
scale would make a panel unreadable: when the losses of all panels together span more than
:data:`SHARED_SPAN_LIMIT` times the narrowest panel's own range (a diverged run at 1e14 beside
runs at 2.3), each panel gets its own scale and colour bar, and the figure says so. A panel with
no finite point, or whose run diverged, says what happened instead of drawing empty axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from optiscope.errors import SpecError
from optiscope.viz.landscape_3d import draw_surface_panel, lifted_heights, surface_cap
from optiscope.viz.landscape_plane import (
    WARNING_COLOUR,
    diverged_note,
    draw_plane,
    plane_arrays,
    plane_levels,
)
from optiscope.viz.levels import distinct_ticks, label_colorbar

__all__ = ["SHARED_SPAN_LIMIT", "landscape_panels", "shared_scale_fits"]

SHARED_SPAN_LIMIT = 100.0
"""A shared scale is kept while all panels' losses span at most this many times the narrowest
panel's range (beyond it, that panel would fall into a single colour band)."""
_KINDS = ("contour", "heatmap", "surface")
_Z_LABEL_STRIP = 0.5  # inches


def shared_scale_fits(losses: Sequence[np.ndarray]) -> bool:
    """Whether one colour scale over all ``losses`` keeps every panel readable (see module doc)."""
    finite = [values[np.isfinite(values)] for values in losses]
    finite = [values for values in finite if values.size]
    if len(finite) < 2:
        return True
    together = float(np.ptp(np.concatenate(finite)))
    narrowest = min(float(np.ptp(values)) for values in finite)
    return together <= SHARED_SPAN_LIMIT * narrowest


def _empty_panel(axes: Axes, lines: Sequence[str]) -> None:
    """A panel with nothing to draw: the reason in its middle, no ticks."""
    write = axes.text2D if axes.name == "3d" else axes.text
    write(0.5, 0.5, "\n".join(lines), transform=axes.transAxes, ha="center", va="center", fontsize=9,
          color=WARNING_COLOUR, wrap=True, gid="panel-note")  # fmt: skip
    if axes.name == "3d":
        axes.set_axis_off()
        axes.set_facecolor("none")  # the z label of the panel on its left may reach over it
    else:
        axes.set(xticks=[], yticks=[])


def _draw_panel(
    axes: Axes,
    kind: str,
    grid_arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    path: Any,
    gradient: Any,
    levels: np.ndarray | None,
    zlim: tuple[float, float] | None,
) -> tuple[Any, str]:
    """One panel: a note when nothing is finite, else the surface or the plane (own levels when
    ``levels`` is None).

    Returns:
        ``(the 2-D plane's colour mappable or None, what the title should add)``.
    """
    loss = grid_arrays[2]
    if not np.isfinite(loss).any():
        _empty_panel(axes, ["all grid points non-finite:", "nothing to draw"])
        return None, ""
    lines = [diverged_note(loss)]
    if kind == "surface":
        lines.append(draw_surface_panel(axes, grid_arrays, path, text_size=7, zlim=zlim)[1])
        return None, "\n".join(line for line in lines if line)
    levels = plane_levels(loss, None) if levels is None else levels
    mappable, _, arrow = draw_plane(axes, kind, grid_arrays, levels, path, gradient, text_size=7)
    lines.append(arrow or "")
    return mappable, "\n".join(line for line in lines if line)


def _layout(count: int, panel_size: float, extra_height: float, three_d: bool) -> tuple[Figure, int, int]:
    """A figure for ``count`` panels in a near-square grid. 3-D panels keep a strip free on the
    right, where the last column's z label lies outside its axes, and extra padding above, where
    constrained layout underestimates a 3-D panel's title by a few pixels."""
    columns = count if count <= 3 else int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    size = (panel_size * columns + 1.2, panel_size * rows + 0.8 + extra_height)
    figure = Figure(figsize=size, layout="constrained")
    if three_d:
        figure.get_layout_engine().set(rect=(0.0, 0.0, 1.0 - _Z_LABEL_STRIP / size[0], 1.0), h_pad=0.1)
    return figure, rows, columns


def _scale_note(losses: Sequence[np.ndarray]) -> str:
    finite = np.concatenate([values[np.isfinite(values)] for values in losses])
    _, (low, high) = distinct_ticks(np.array([finite.min(), finite.max()]))
    return (
        f"each panel has its own colour scale: together the losses span {low} to {high}, "
        f"over {SHARED_SPAN_LIMIT:g}x the narrowest panel's range"
    )


def landscape_panels(
    grids: Sequence[Any],
    labels: Sequence[str],
    paths: Sequence[Any] | None = None,
    kind: str = "contour",
    shared_levels: bool = True,
    title: str = "",
    gradients: Sequence[Any] | None = None,
    panel_size: float = 4.0,
    panel_notes: Sequence[str | None] | None = None,
    notes: Sequence[str] = (),
) -> Figure:
    """Side-by-side landscapes, one per grid.

    Args:
        grids: 2-D ``LandscapeGrid`` per panel (one with no finite point is drawn as a note).
        labels: one panel title each (e.g. ``"batch 64"``).
        paths: optional ``PathProjection`` (or ``None``) per panel; each gets its own captured note.
        kind: ``contour``, ``heatmap`` or ``surface`` (3-D).
        shared_levels: one set of colour levels (or z-range) and one colour bar for all panels,
            so equal colours mean equal losses, while :func:`shared_scale_fits`; otherwise (or
            when ``False``) each panel has its own.
        title: figure title.
        gradients: optional centre gradient (or ``None``) per panel (2-D kinds only).
        panel_size: inches per panel side.
        panel_notes: optional line per panel saying what happened to its run
            (``"run diverged at step 12"``), written under its label.
        notes: lines under the figure (e.g. runs left out because they have no landscape).

    Raises:
        SpecError: unknown kind, lengths that do not match, or any grid that is 1-D.
    """
    count = len(grids)
    if kind not in _KINDS:
        raise SpecError(f"panel kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    paths, gradients = paths or [None] * count, gradients or [None] * count
    panel_notes = panel_notes or [None] * count
    if not count or not len(labels) == len(paths) == len(gradients) == len(panel_notes) == count:
        raise SpecError(f"need one label, path and gradient per grid: {count} grids, {len(labels)} labels")
    arrays = [plane_arrays(grid, require_finite=False) for grid in grids]
    losses = [loss for _, _, loss in arrays]
    shared = shared_levels and shared_scale_fits(losses)
    figure, rows, columns = _layout(count, panel_size, 0.25 * len(notes), kind == "surface")
    everything = np.concatenate([loss.ravel() for loss in losses])
    lifted = [lifted_heights(grid_arrays, path) for grid_arrays, path in zip(arrays, paths, strict=True)]
    zlim = _shared_zlim(losses, lifted) if shared and kind == "surface" else None
    panels, mappable = [], None
    for index, (grid_arrays, label) in enumerate(zip(arrays, labels, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1, projection="3d" if kind == "surface" else None)
        levels = None if kind == "surface" or not shared else plane_levels(everything, None)
        drawn, note = _draw_panel(axes, kind, grid_arrays, paths[index], gradients[index], levels, zlim)
        if drawn is not None:
            mappable = drawn
            if not shared:
                label_colorbar(figure.colorbar(drawn, ax=axes, label="loss (this panel's scale)"))
        lines = [label, panel_notes[index] or "", note]
        axes.set_title("\n".join(line for line in lines if line), fontsize=8)
        panels.append(axes)
    if shared and mappable is not None:
        bar = figure.colorbar(mappable, ax=panels, label="loss (levels shared by all panels)", shrink=0.8)
        label_colorbar(bar)
    headings = [title] if title else []
    headings += [_scale_note(losses)] if shared_levels and not shared else []
    if headings:
        figure.suptitle("\n".join(headings), fontsize=10)
    if notes:
        figure.supxlabel("\n".join(notes), fontsize=8, color=WARNING_COLOUR, wrap=True)
    return figure


def _shared_zlim(
    losses: Sequence[np.ndarray], lifted: Sequence[np.ndarray | None]
) -> tuple[float, float] | None:
    """One z-range for all surface panels: the lowest loss up to the highest panel top, where a
    panel's top is its own cap (:func:`surface_cap`, outliers judged within that panel) or its
    maximum."""
    tops, lows = [], []
    for loss, heights in zip(losses, lifted, strict=True):
        finite = loss[np.isfinite(loss)]
        if finite.size:
            cap = surface_cap(loss, heights)
            tops.append(cap if cap is not None else float(finite.max()))
            lows.append(float(finite.min()))
    return (min(lows), max(tops)) if tops else None
