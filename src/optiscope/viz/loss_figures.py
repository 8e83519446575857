"""Loss against step: on a log axis that is one, or on the raw linear scale.

A log axis of the raw loss is a lie twice over: a surface whose minimum is not 0 (or noise that
dips below 0) leaves nothing positive to draw, and one run at 1e-28 squashes all others into the
top rows. So the log figure draws ``loss - min`` (the known minimum, else the best value on the
surface's grid or in the runs, named in the y-label), floors the axis a few decades under the bulk
of the values (:func:`optiscope.viz.levels.log_floor`), draws what lies below at the floor and
says how many; values under a known minimum switch the axis to symlog, and the label says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from optiscope.paths import PathSet
from optiscope.viz.levels import log_floor
from optiscope.viz.palette import line_style_for
from optiscope.viz.path_labels import drawn_runs, drawn_starts, format_loss, legend_label, outcome_text

__all__ = ["LossAxis", "loss_axis", "loss_curves"]

_NOTE_BOX = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2}


@dataclass(frozen=True)
class LossAxis:
    """How the log loss figure draws losses: ``loss - reference`` on a log or symlog axis.

    Attributes:
        reference: the minimum subtracted from every loss.
        source: where it comes from (``"known minimum"``, ``"best on the grid"``, ``"best seen in
            the runs"``).
        scale: ``"log"``, or ``"symlog"`` when some losses lie below a known minimum.
        floor: the lowest value the axis shows (log; values below are drawn at it), or the
            linear range around 0 (symlog).
        below: how many finite values lie under the floor (log) or under the minimum (symlog).
        total: how many finite values there are.
    """

    reference: float
    source: str
    scale: Literal["log", "symlog"]
    floor: float
    below: int
    total: int

    def values(self, losses: np.ndarray) -> np.ndarray:
        """What is drawn for ``losses``: the gap to the reference, raised to the floor on a log axis."""
        gap = np.asarray(losses, dtype=float) - self.reference
        return np.maximum(gap, self.floor) if self.scale == "log" else gap

    @property
    def label(self) -> str:
        return f"loss − min, min = {format_loss(self.reference)} ({self.source}); {self.scale} scale"

    @property
    def note(self) -> str:
        """What the reader must know about values the axis does not show as they are ('' if none)."""
        if not self.below:
            return ""
        if self.scale == "symlog":
            return (
                f"{self.below} of {self.total} values lie below the {self.source}: symlog axis, "
                f"linear within ±{self.floor:.2g}"
            )
        return f"{self.below} of {self.total} values lie below {self.floor:.2g}: drawn at the floor (dotted)"

    def apply(self, axes: Axes) -> None:
        """Set the scale, the floor line and the note on ``axes``."""
        axes.set_ylabel(self.label)
        if self.scale == "symlog":
            axes.set_yscale("symlog", linthresh=self.floor)
        else:
            axes.set_yscale("log")
            axes.set_ylim(bottom=self.floor / 2)
            if self.below:
                axes.axhline(self.floor, color="grey", linestyle=":", linewidth=1.0, gid="loss-floor")
        if self.note:
            axes.text(
                0.01, 0.01, self.note, transform=axes.transAxes, fontsize=7, bbox=_NOTE_BOX, gid="loss-note"
            )


def loss_axis(
    losses: np.ndarray, *, minimum_value: float | None, grid_minimum: float | None = None
) -> LossAxis:
    """The log axis for ``losses`` (any shape; NaN ignored).

    Args:
        minimum_value: the surface's known minimum value, if it has one.
        grid_minimum: the lowest value on the surface's drawn grid (used when the minimum is not
            known, with the lowest loss seen in the runs if that is lower).
    """
    finite = np.asarray(losses, dtype=float)
    finite = finite[np.isfinite(finite)]
    if minimum_value is not None:
        reference, source = float(minimum_value), "known minimum"
    else:
        candidates = [(float(grid_minimum), "best on the grid")] if grid_minimum is not None else []
        if finite.size:
            candidates.append((float(finite.min()), "best seen in the runs"))
        reference, source = min(candidates, default=(0.0, "no finite loss"))
    gap = finite - reference
    floor = log_floor(gap)
    if not np.isfinite(floor):  # nothing above the minimum: every value sits on it
        floor = 1e-12 * max(1.0, abs(reference))
    under_minimum = int((gap < -floor).sum())
    if under_minimum:
        return LossAxis(reference, source, "symlog", floor, under_minimum, int(finite.size))
    return LossAxis(reference, source, "log", floor, int((gap < floor).sum()), int(finite.size))


def loss_curves(
    paths: PathSet,
    *,
    title: str,
    log: bool = True,
    minimum_value: float | None = None,
    grid_minimum: float | None = None,
    size: tuple[float, float] = (9.0, 5.5),
) -> Figure:
    """Loss against step for every drawn run, one colour, line style and marker per config.

    Args:
        paths: the runs.
        title: figure title.
        log: draw ``loss - min`` on a log axis (see :class:`LossAxis`); else the raw loss, linear.
        minimum_value, grid_minimum: see :func:`loss_axis`.

    A run with one finite point is drawn as a marker; runs with none, and a figure with no finite
    loss at all, are named in a note on the panel rather than left as empty axes.
    """
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    drawn = paths.losses[drawn_runs(paths)]
    scale = loss_axis(drawn, minimum_value=minimum_value, grid_minimum=grid_minimum) if log else None
    steps = np.arange(paths.points.shape[1])
    empty: list[str] = []
    for config in range(len(paths.specs)):
        colour, linestyle, marker = line_style_for(config)
        first = config * paths.n_starts
        for run in first + drawn_starts(paths.n_starts):
            values = paths.losses[run, : int(paths.n_steps[run]) + 1]
            shown = scale.values(values) if scale else values
            count = int(np.isfinite(values).sum())
            if count == 0:
                empty.append(f"{paths.labels[config]}: no finite loss ({outcome_text(paths, config)})")
                continue
            axes.plot(
                steps[: len(values)],
                shown,
                color=colour,
                linestyle=linestyle,
                marker=marker,
                markevery=[count - 1],
                markersize=6,
                linewidth=1.4,
                alpha=0.9 if paths.n_starts == 1 else 0.4,
            )
    _legend(axes, paths)
    axes.set_xlabel("step")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if not axes.lines:
        reason = "; ".join(dict.fromkeys(empty)) or "no runs"
        axes.text(
            0.5,
            0.5,
            f"nothing to plot: {reason}",
            transform=axes.transAxes,
            ha="center",
            va="center",
            wrap=True,
            gid="loss-empty",
        )
        axes.set_yticks([])
        axes.set_ylabel("loss")
        return figure
    if scale:
        scale.apply(axes)
    else:
        axes.set_ylabel("loss")
    if empty:
        axes.text(
            0.99,
            0.01,
            "\n".join(dict.fromkeys(empty)),
            transform=axes.transAxes,
            ha="right",
            fontsize=7,
            bbox=_NOTE_BOX,
            gid="loss-empty",
        )
    return figure


def _legend(axes: Axes, paths: PathSet) -> None:
    """One entry per config: its colour, line style and end marker, with its outcome."""
    handles = []
    for config in range(len(paths.specs)):
        colour, linestyle, marker = line_style_for(config)
        handles.append(
            Line2D(
                [], [], color=colour, linestyle=linestyle, marker=marker, label=legend_label(paths, config)
            )
        )
    if handles:
        axes.legend(handles=handles, fontsize=8, loc="best")
