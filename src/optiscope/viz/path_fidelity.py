"""Does a landscape slice tell the truth about the training path drawn on it?

Left: the share of each snapshot's displacement from the centre that the plane holds. The centre
itself (usually the last snapshot, the final weights) has no displacement, so its share is 1 by
definition, not by measurement; it is left out of the line and marked. Right: the true loss at
each snapshot beside the slice's loss at its projected point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from optiscope.landscape.projection import PathProjection
from optiscope.viz.interactive_frames import _finite_or_nan
from optiscope.viz.landscape_plane import OFF_PLANE_THRESHOLD, WARNING_COLOUR, path_steps, percent
from optiscope.viz.levels import floor_log_axis
from optiscope.viz.palette import colour_for
from optiscope.viz.path_figures import format_loss

__all__ = ["at_centre", "path_fidelity_figure"]


def at_centre(path: PathProjection) -> np.ndarray:
    """``(k,)`` True for snapshots with no displacement from the centre (the centre itself).

    Zero displacement means coordinates ``0`` and no residual; a path without ``residual_norms``
    marks the snapshots at the origin whose share is exactly 1 (the convention for ``d = 0``).
    """
    coords = np.asarray(path.coords, dtype=float)
    origin = (coords == 0).all(axis=1)
    residuals = getattr(path, "residual_norms", None)
    if residuals is not None:
        return origin & (np.asarray(residuals, dtype=float) == 0)
    return origin & (np.asarray(path.captured, dtype=float) == 1.0)


def _draw_shares(axes: Axes, path: PathProjection, steps: np.ndarray) -> None:
    """Each snapshot's captured share (the centre left out and marked), the path's, the threshold."""
    shares, centre = np.asarray(path.captured, dtype=float), at_centre(path)
    axes.plot(steps[~centre], shares[~centre], "o-", color=colour_for(6), markersize=3, gid="captured",
              label="each snapshot")  # fmt: skip
    for step in steps[centre]:
        axes.axvline(step, color="grey", linestyle="-.", linewidth=1.0, gid="centre-snapshot",
                     label=f"step {step:g} is the centre: no displacement, left out")  # fmt: skip
    axes.axhline(float(path.total_captured), color=colour_for(0), linestyle="--",
                 label=f"whole path: {percent(float(path.total_captured))}")  # fmt: skip
    axes.axhline(OFF_PLANE_THRESHOLD, color=WARNING_COLOUR, linestyle=":",
                 label=f"{percent(OFF_PLANE_THRESHOLD)}: below it the path is mostly off-plane")  # fmt: skip
    title = "how much of each snapshot the plane holds"
    if centre.any():
        title += "\n(the centre snapshot is left out: its share is 1 by definition)"
    axes.set(ylim=(0.0, 1.02), xlabel="step", ylabel="share of displacement on the plane", title=title)
    axes.legend(fontsize=8)


def _draw_path_losses(axes: Axes, steps: np.ndarray, true: Any, surface: Any) -> None:
    """True loss (solid) and the slice's loss at the projected point (dashed) against step."""
    drawn = []
    for values, style, colour, gid, label in (
        (true, "-", colour_for(6), "true-loss", "true loss at the snapshot"),
        (surface, "--", colour_for(2), "surface-loss", "slice's loss at the projected point"),
    ):
        if values is not None:
            values = _finite_or_nan(np.asarray(values, dtype=float))
            axes.plot(steps, values, style, color=colour, linewidth=1.6, gid=gid, label=label)
            drawn.append(values)
    heading = "loss along the path"
    if len(drawn) == 2 and np.isfinite(gap := np.abs(drawn[0] - drawn[1])).any():
        worst = int(np.nanargmax(gap))
        heading += f"\nlargest gap |true - slice| = {format_loss(float(gap[worst]))} at step {steps[worst]:g}"
    finite = np.concatenate([values[np.isfinite(values)] for values in drawn])
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        axes.set_yscale("log")
        floor_log_axis(axes, finite)
    axes.set(xlabel="step", ylabel="loss", title=heading)
    axes.legend(fontsize=8)


def path_fidelity_figure(
    path: PathProjection | None,
    true_path_loss: np.ndarray | None = None,
    surface_path_loss: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Captured share per snapshot and, when given, true vs slice loss per step.

    Left: the share of each snapshot's displacement the plane holds (0..1), the whole path's share
    and the off-plane threshold; the centre snapshot (zero displacement) is left out and marked.
    Right (when a loss is given): the true loss at each snapshot beside the landscape's loss at
    its projected point, with their largest gap.
    """
    steps = path_steps(path)
    losses_given = true_path_loss is not None or surface_path_loss is not None
    figure = Figure(figsize=(11.0 if losses_given else 6.0, 4.4), layout="constrained")
    panels = figure.subplots(1, 2 if losses_given else 1, squeeze=False)[0]
    _draw_shares(panels[0], path, steps)
    if losses_given:
        _draw_path_losses(panels[1], steps, true_path_loss, surface_path_loss)
    for axes in panels:
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title, wrap=True)
    return figure
