"""Paths cut to the window a figure shows, and the markers every path figure uses.

A path that leaves the window is not allowed to vanish: :func:`window_track` cuts it at the border
and records where and at which step it left, for any number of coordinates (a 3-D figure carries
the loss along). The markers follow the 2-D path figures (:mod:`optiscope.viz.path_figures`): a
white circle at the start, the config's marker at the end, a ring where a path left the window
with "left at step k" next to it. Used by the 3-D figure, the animations (where the ball waits on
the border), the interactive figures and the teaching figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import offset_copy
from mpl_toolkits.mplot3d import proj3d

from optiscope.viz.palette import colour_for, line_style_for, outline_for
from optiscope.viz.path_window import Window, clip_segments

__all__ = [
    "START_STYLE",
    "WindowedTrack",
    "config_handle",
    "end_style",
    "exit_slots",
    "exit_style",
    "grid_window",
    "mark_ends",
    "marker_handles",
    "place_exit_note",
    "window_track",
]

START_STYLE: dict[str, object] = {
    "marker": "o",
    "color": "white",
    "markeredgecolor": "black",
    "markersize": 6,
}
"""Marker style of a path's start, as in the 2-D path figures: a white circle."""


def grid_window(xs: np.ndarray, ys: np.ndarray) -> Window:
    """The rectangle covered by the grid axes ``xs`` and ``ys``."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return (float(xs.min()), float(xs.max())), (float(ys.min()), float(ys.max()))


@dataclass(frozen=True)
class WindowedTrack:
    """A path cut to a window: the pieces inside it and every place where it left.

    Attributes:
        track: the path as given, shape ``(n, d)``; columns 0 and 1 are tested against the window.
        rows: what to draw, shape ``(m, d)``: the pieces inside the window separated by NaN rows,
            with the points where the path crosses the border inserted.
        times: step of each row, shape ``(m,)``; fractional for a border point, and a separating
            NaN row has the time of the row before it.
        inside: whether position ``k`` is finite and inside the window, shape ``(n,)``.
        exits: ``(k, border point (d,))`` each time the path left: ``k`` is its first step outside
            (or not finite); the point is where it crossed the border (its last finite position
            when it stopped being finite).
    """

    track: np.ndarray
    rows: np.ndarray
    times: np.ndarray
    inside: np.ndarray
    exits: tuple[tuple[int, np.ndarray], ...]

    def upto(self, step: int) -> np.ndarray:
        """The rows drawn once the path has reached ``step``."""
        return self.rows[self.times <= step]

    def position(self, step: int) -> tuple[np.ndarray | None, int | None]:
        """Where the ball is at ``step``: ``(point, None)`` inside the window, ``(border point, k)``
        once the path left at step ``k``, ``(None, None)`` before it ever was inside."""
        at = min(max(int(step), 0), len(self.track) - 1)
        if self.inside[at]:
            return self.track[at], None
        left = [(k, point) for k, point in self.exits if k <= at]
        if left:
            return left[-1][1], left[-1][0]
        return None, None


def window_track(track: np.ndarray, window: Window) -> WindowedTrack:
    """Cut ``track`` (shape ``(n, d)``, ``d >= 2``) to ``window``; see :class:`WindowedTrack`.

    Each step's segment is clipped by :func:`~optiscope.viz.path_window.clip_segments` (the same
    clipping as the static figures, so a step that crosses the whole window is drawn too).
    Columns beyond the first two (a loss) are interpolated linearly at the border points.
    """
    track = np.asarray(track, dtype=float)
    (x_low, x_high), (y_low, y_high) = window
    finite = np.isfinite(track).all(axis=1)
    with np.errstate(invalid="ignore"):
        inside = finite & (track[:, 0] >= x_low) & (track[:, 0] <= x_high)
        inside &= (track[:, 1] >= y_low) & (track[:, 1] <= y_high)
    if len(track) > 1:
        visible, t_in, t_out, _, _ = clip_segments(track[:-1, :2], track[1:, :2], window)
        visible &= finite[:-1] & finite[1:]
    rows: list[np.ndarray] = []
    times: list[float] = []
    exits: list[tuple[int, np.ndarray]] = []
    for k in range(len(track)):
        if k and visible[k - 1]:
            step = track[k] - track[k - 1]
            if t_in[k - 1] > 0:  # coming in: start at the border
                rows.append(track[k - 1] + t_in[k - 1] * step)
                times.append(k - 1 + t_in[k - 1])
            if t_out[k - 1] < 1:  # going out: end at the border
                border = track[k - 1] + t_out[k - 1] * step
                rows += [border, np.full(track.shape[1], np.nan)]
                times += [k - 1 + t_out[k - 1]] * 2
                if inside[k - 1]:  # the ball left (a step that only crosses the window is drawn)
                    exits.append((k, border))
        if inside[k]:
            rows.append(track[k])
            times.append(float(k))
        elif k and inside[k - 1] and not finite[k]:  # stopped being finite: it left from here
            rows.append(np.full(track.shape[1], np.nan))
            times.append(times[-1])
            exits.append((k, track[k - 1]))
    shape = (len(rows), track.shape[1])
    return WindowedTrack(
        track=track,
        rows=np.asarray(rows, dtype=float).reshape(shape),
        times=np.asarray(times, dtype=float),
        inside=inside,
        exits=tuple(exits),
    )


def place_exit_note(note: Text, point: np.ndarray, step: int, window: Window, slot: int = 0) -> None:
    """Write "left at step ``step``" next to the border ``point`` (2 or 3 coordinates).

    The note sits on the side of the point that faces the middle of the axes (in 3-D, as seen on
    screen); ``slot`` moves it that many lines further in, so the notes of paths leaving at one
    spot do not print over each other (see :func:`exit_slots`).
    """
    axes = note.axes
    if point.shape[0] == 3:
        x, y, _ = proj3d.proj_transform(*point, axes.get_proj())
        screen_x, screen_y = axes.transData.transform((x, y))
        right, top = (
            screen_x >= axes.bbox.x0 + axes.bbox.width / 2,
            screen_y >= axes.bbox.y0 + axes.bbox.height / 2,
        )
    else:
        (x_low, x_high), (y_low, y_high) = window
        right, top = point[0] >= (x_low + x_high) / 2, point[1] >= (y_low + y_high) / 2
    shift_x, shift_y = (-4.0 if right else 4.0), (-1.0 if top else 1.0) * (4.0 + 9.0 * slot)
    note.set_text(f"left at step {step}")
    note.set(horizontalalignment="right" if right else "left", verticalalignment="top" if top else "bottom")
    note.set_transform(offset_copy(axes.transData, axes.figure, shift_x, shift_y, units="points"))
    if point.shape[0] == 3:
        note.set_position_3d(tuple(point))
    else:
        note.set_position(tuple(point))


def exit_slots(
    tracks: list[WindowedTrack], window: Window, *, ended_outside: bool = False, near: float = 0.08
) -> list[int | None]:
    """Per track, how many earlier tracks last left the window close to where it last left (within
    ``near`` of the window's span on both axes): the ``slot`` of its note. None: it never left (or,
    with ``ended_outside``, it came back and ends inside)."""
    (x_low, x_high), (y_low, y_high) = window
    span = np.array([x_high - x_low, y_high - y_low])
    placed: list[np.ndarray] = []
    slots: list[int | None] = []
    for track in tracks:
        if not track.exits or (ended_outside and track.inside[-1]):
            slots.append(None)
            continue
        point = track.exits[-1][1][:2]
        slots.append(sum(bool(np.all(np.abs(point - other) < near * span)) for other in placed))
        placed.append(point)
    return slots


def end_style(config: int) -> dict[str, object]:
    """Marker style of a path's end (or of its ball in an animation): its config's marker."""
    colour, _, marker = line_style_for(config)
    return {"marker": marker, "color": colour, "markeredgecolor": outline_for(colour), "markersize": 8}


def exit_style(config: int) -> dict[str, object]:
    """Marker style of the point where a path left the window: a ring in its config's colour."""
    colour = colour_for(config)
    return {
        "marker": "o",
        "markersize": 12,
        "markerfacecolor": "none",
        "markeredgecolor": colour,
        "markeredgewidth": 2.2,
    }


def marker_handles(exited: bool) -> list[Line2D]:
    """Legend entries of the start marker and, when a path left the window, of the exit ring."""
    handles = [Line2D([], [], linestyle="none", **START_STYLE, label="start")]
    if exited:
        ring = {**exit_style(0), "markeredgecolor": "black", "markersize": 9}
        handles.append(Line2D([], [], linestyle="none", **ring, label="left the window (at the border)"))
    return handles


def config_handle(config: int, label: str) -> Line2D:
    """Legend entry of a config: its colour, line style and marker."""
    linestyle = line_style_for(config)[1]
    return Line2D([], [], linestyle=linestyle, **{**end_style(config), "markersize": 7}, label=label)


def mark_ends(
    axes: Axes, windowed: WindowedTrack, config: int, window: Window, slot: int | None, zorder: float = 6
) -> None:
    """Start (white circle), and the end (the config's marker) when the path ends inside the window,
    else a ring where it last left with "left at step k" next to it (unless ``slot`` is None, when
    too many notes would crowd the figure; ``slot`` staggers notes at one spot). 2-D or 3-D."""
    dims = windowed.track.shape[1]
    if windowed.inside[0]:
        axes.plot(*windowed.track[0, :, None], linestyle="none", **START_STYLE, zorder=zorder, gid="start")
    if windowed.inside[-1]:
        axes.plot(
            *windowed.track[-1, :, None], linestyle="none", **end_style(config), zorder=zorder, gid="end"
        )
    elif windowed.exits:
        step, border = windowed.exits[-1]
        axes.plot(*border[:, None], linestyle="none", **exit_style(config), zorder=zorder, gid="exit")
        if slot is not None:
            note = axes.text(*np.zeros(dims), "", fontsize=7, zorder=zorder + 1, gid="exit-note")
            place_exit_note(note, border, step, window, slot)
