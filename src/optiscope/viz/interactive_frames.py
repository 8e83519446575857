"""Path traces and step animation shared by the interactive (plotly) surface figures.

A figure draws each run twice: a faint static line of its whole recorded path (subsampled to at
most ``max_points`` positions) and, per config, an animated *trail* (the path up to the current
frame's step) with a *ball* at the current position. Animation frames restyle only the trails
and balls; the figure opens on its last frame, so it is complete before anyone presses play.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

import numpy as np
import plotly.graph_objects as go

from optiscope.errors import SpecError
from optiscope.paths import PathSet
from optiscope.viz.palette import colour_for
from optiscope.viz.path_figures import drawn_starts, legend_label
from optiscope.viz.path_marks import window_track
from optiscope.viz.path_window import Window

__all__ = [
    "Track",
    "add_animation",
    "add_exit_markers",
    "add_path_lines",
    "drawn_tracks",
    "frame_steps",
    "hover_template",
    "track_steps",
]

MakeTrace = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], go.Scatter | go.Scatter3d]
"""``make(x, y, losses, steps)``: a 2-D ``Scatter`` or a 3-D ``Scatter3d`` with ``customdata``."""


@dataclass(frozen=True)
class Track:
    """One drawn run: its config and the recorded positions its static line shows."""

    run: int
    config: int
    steps: np.ndarray
    points: np.ndarray
    losses: np.ndarray


def track_steps(last_step: int, max_points: int) -> np.ndarray:
    """Steps ``0..last_step`` thinned to at most ``max_points`` evenly spaced ones (ends kept)."""
    if last_step + 1 <= max_points:
        return np.arange(last_step + 1)
    return np.unique(np.round(np.linspace(0, last_step, max_points)).astype(np.int64))


def frame_steps(last_step: int, frames: int) -> np.ndarray:
    """The steps shown by ``min(frames, last_step + 1)`` animation frames, from 0 to ``last_step``."""
    if not isinstance(frames, int) or frames < 1:
        raise SpecError(f"an animation needs at least one frame, got {frames!r}")
    return track_steps(last_step, frames)


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Infinite values (a run blowing up) become NaN, which plotly draws as a gap."""
    return np.where(np.isfinite(values), values, np.nan)


def drawn_tracks(paths: PathSet, max_runs_per_config: int, max_points: int) -> list[Track]:
    """Up to ``max_runs_per_config`` runs of every config, spread over its starts, each cut at
    its last step."""
    tracks = []
    for config in range(len(paths.specs)):
        first = config * paths.n_starts
        for run in first + drawn_starts(paths.n_starts, max(1, max_runs_per_config)):
            run = int(run)
            steps = track_steps(int(paths.n_steps[run]), max_points)
            points = _finite_or_nan(paths.points[run, steps])
            tracks.append(Track(run, config, steps, points, _finite_or_nan(paths.losses[run, steps])))
    return tracks


def hover_template(label: str, spec: str) -> str:
    """Hover text of a path point; ``customdata`` holds ``(step, loss)`` per point."""
    return (
        f"<b>{escape(label)}</b><br>{escape(spec)}<br>step %{{customdata[0]}}"
        "<br>loss %{customdata[1]:.4g}<br>x %{x:.4g}<br>y %{y:.4g}<extra></extra>"
    )


def add_path_lines(figure: go.Figure, paths: PathSet, tracks: list[Track], make: MakeTrace) -> None:
    """One faint static line per drawn run, in its config's colour, one legend entry per config."""
    for track in tracks:
        label = paths.labels[track.config]
        trace = make(track.points[:, 0], track.points[:, 1], track.losses, track.steps.astype(float))
        trace.update(
            name=legend_label(paths, track.config),
            meta={"role": "path", "run": track.run, "config": track.config},
            legendgroup=label,
            showlegend=track.run == track.config * paths.n_starts,
            mode="lines",
            line={"color": colour_for(track.config), "width": 2},
            opacity=0.5,
            hovertemplate=hover_template(label, paths.specs[track.config]),
        )
        figure.add_trace(trace)


def _positions(paths: PathSet, runs: list[int], steps: list[int]) -> tuple[np.ndarray, ...]:
    """``(points (k, 2), losses (k,), steps (k,))`` at (run, step) pairs; a run of -1 is a gap.

    Float32: frames repeat every trail many times, and 7 digits are ample to draw and hover.
    """
    runs_array, steps_array = np.asarray(runs), np.asarray(steps)
    gap = runs_array < 0
    points = _finite_or_nan(paths.points[runs_array, steps_array])
    losses = _finite_or_nan(paths.losses[runs_array, steps_array])
    points[gap], losses[gap] = np.nan, np.nan
    steps_or_gap = np.where(gap, np.nan, steps_array.astype(float))
    return points.astype(np.float32), losses.astype(np.float32), steps_or_gap.astype(np.float32)


def _animated_traces(
    paths: PathSet, tracks: list[Track], shown: np.ndarray, step: int, make: MakeTrace
) -> list[go.Scatter | go.Scatter3d]:
    """Coordinates only (frames restyle, styles stay): per config, its trail and balls at ``step``.

    A trail joins the config's runs, each up to ``step`` through the shown steps, with gaps
    between runs; a run that stopped earlier keeps its whole path and its ball at its end.
    """
    traces = []
    for config in sorted({track.config for track in tracks}):
        trail_runs, trail_steps, ball_runs, ball_steps = [], [], [], []
        for track in (track for track in tracks if track.config == config):
            current = min(step, int(paths.n_steps[track.run]))
            steps = np.union1d(shown[shown <= current], [current]).tolist()
            trail_runs += [track.run] * len(steps) + [-1]
            trail_steps += [*steps, 0]
            ball_runs.append(track.run)
            ball_steps.append(current)
        for points, losses, steps in (
            _positions(paths, trail_runs, trail_steps),
            _positions(paths, ball_runs, ball_steps),
        ):
            traces.append(make(points[:, 0], points[:, 1], losses, steps))
    return traces


def _style_animated(
    traces: list[go.Scatter | go.Scatter3d], paths: PathSet, tracks: list[Track], ball_size: float
) -> None:
    """Colour, hover and legend group of the trail and ball traces made by ``_animated_traces``."""
    configs = sorted({track.config for track in tracks})
    for config, trail, ball in zip(configs, traces[::2], traces[1::2], strict=True):
        colour = colour_for(config)
        for role, trace in (("trail", trail), ("ball", ball)):
            trace.update(
                meta={"role": role, "config": config},
                name=paths.labels[config],
                legendgroup=paths.labels[config],
                showlegend=False,
                hovertemplate=hover_template(paths.labels[config], paths.specs[config]),
            )
        trail.update(mode="lines", line={"color": colour, "width": 4})
        ball.update(
            mode="markers",
            marker={"color": colour, "size": ball_size, "line": {"color": "black", "width": 1}},
        )


def _controls(names: list[str], redraw: bool, y: float) -> tuple[list[dict], list[dict]]:
    """A play/pause button pair and a step slider (one slider step per frame), their top at ``y``."""
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": redraw}, "transition": {"duration": 0}}
    play = {**still, "frame": {"duration": 80, "redraw": redraw}, "fromcurrent": False}
    buttons = [
        {"label": "play", "method": "animate", "args": [None, play]},
        {"label": "pause", "method": "animate", "args": [[None], still]},
    ]
    menu = {"type": "buttons", "direction": "left", "x": 0.0, "y": y, "xanchor": "left"}
    menu.update(yanchor="top", pad={"r": 10, "t": 40}, showactive=False, buttons=buttons)
    steps = [{"label": name, "method": "animate", "args": [[name], still]} for name in names]
    slider = {"steps": steps, "active": len(steps) - 1, "x": 0.12, "len": 0.88, "y": y}
    slider.update(yanchor="top", pad={"t": 30}, currentvalue={"prefix": "step "})
    return [menu], [slider]


def add_animation(
    figure: go.Figure,
    paths: PathSet,
    tracks: list[Track],
    *,
    frames: int,
    make: MakeTrace,
    redraw: bool,
    ball_size: float,
    controls_y: float,
) -> None:
    """Append the trails and balls to ``figure`` with one frame per shown step, a slider and play.

    Frames, the play button and the slider come only when there are at least two steps to show.

    Args:
        figure: a figure holding the surface and the static path lines.
        paths: the runs; ``tracks`` says which of them are drawn.
        tracks: drawn runs, from :func:`drawn_tracks`.
        frames: frames wanted; fewer when the longest drawn run has fewer steps.
        make: builds one 2-D or 3-D path trace.
        redraw: whether a frame must redraw the scene (``True`` for 3-D figures).
        ball_size: marker size of the current-position balls.
        controls_y: top of the play button and slider, in paper coordinates (below the axes).
    """
    if not tracks:
        return
    last = max(int(paths.n_steps[track.run]) for track in tracks)
    shown = frame_steps(last, frames)
    first_index = len(figure.data)
    current = _animated_traces(paths, tracks, shown, last, make)
    _style_animated(current, paths, tracks, ball_size)
    figure.add_traces(current)
    if len(shown) < 2:  # nothing to play: the balls rest at the ends, and no button says otherwise
        return
    indices = list(range(first_index, len(figure.data)))
    figure.frames = [
        go.Frame(
            name=str(step),
            data=_animated_traces(paths, tracks, shown, int(step), make),
            traces=indices,
        )
        for step in shown
    ]
    menus, sliders = _controls([str(step) for step in shown], redraw, controls_y)
    figure.update_layout(updatemenus=menus, sliders=sliders)


def add_exit_markers(
    figure: go.Figure,
    paths: PathSet,
    tracks: list[Track],
    window: Window,
    make: MakeTrace,
    *,
    most_texts: int = 12,
) -> None:
    """One trace per config with a diamond where each drawn run left ``window``.

    The figure clips a path at its axes, so without these a run that left would just stop. Hover
    (and, with at most ``most_texts`` exits in the figure, a label) says "left at step k".
    """
    found: dict[int, list[tuple[int, np.ndarray]]] = {}
    for track in tracks:
        last = int(paths.n_steps[track.run])
        recorded = np.column_stack([paths.points[track.run, : last + 1], paths.losses[track.run, : last + 1]])
        found.setdefault(track.config, []).extend(window_track(recorded, window).exits)
    with_text = sum(len(exits) for exits in found.values()) <= most_texts
    for config, exits in found.items():
        if not exits:
            continue
        steps = np.array([step for step, _ in exits], dtype=float)
        border = np.array([point for _, point in exits])
        trace = make(border[:, 0], border[:, 1], border[:, 2], steps)
        notes = [f"left at step {step:g}" for step in steps]
        trace.update(
            name=f"{paths.labels[config]}: left the window",
            meta={"role": "exit", "config": config},
            legendgroup=paths.labels[config],
            showlegend=False,
            mode="markers+text" if with_text else "markers",
            text=notes,
            textposition="bottom center",
            marker={
                "symbol": "diamond",
                "size": 9,
                "color": colour_for(config),
                "line": {"color": "black", "width": 1},
            },
            hovertemplate=hover_template(paths.labels[config], paths.specs[config]).replace(
                "<extra>", "<br>%{text} (the border point)<extra>"
            ),
        )
        if isinstance(trace, go.Scatter):
            trace.update(cliponaxis=False)  # a marker on the border would be cut in half
        figure.add_trace(trace)
