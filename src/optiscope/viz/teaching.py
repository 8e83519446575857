"""Teaching figures: what an optimizer does inside one step, AdaGrad's preconditioning,
learning-rate sweeps and the regression losses of seed 003.

Every function takes arrays (a surface grid, a :class:`StateTrace`, a :class:`PathSet`) and
returns a matplotlib ``Figure``; nothing here runs an optimizer or writes a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from optiscope.paths.pathset import PathSet
from optiscope.paths.state_trace import StateTrace, per_coordinate_step_sizes
from optiscope.viz.levels import contour_levels, label_colorbar
from optiscope.viz.palette import colour_for, line_style_for
from optiscope.viz.path_figures import legend_label
from optiscope.viz.path_marks import config_handle, exit_slots, grid_window, mark_ends, window_track
from optiscope.viz.path_window import Window

__all__ = [
    "adagrad_full_vs_diagonal_figure",
    "lr_sweep_figure",
    "regression_surfaces_figure",
    "state_arrows_figure",
]

# The state entry drawn as the optimizer's momentum / first moment, in order of preference.
_FIRST_MOMENTS = ("momentum_buffer", "velocity", "exp_avg")
_GRADIENT_COLOUR, _MOMENT_COLOUR, _UPDATE_COLOUR = "#000000", "#0072B2", "#009E73"
_ADAGRAD_GRADIENT, _ADAGRAD_UPDATE = "grey", "teal"
_WIDTHS = (4.5, 2.8, 1.4)  # line widths of the gradient, momentum and update arrows
_MAX_EXIT_NOTES = 8  # a panel with more exits marks them without their "left at step k" notes
Grid = tuple[np.ndarray, np.ndarray, np.ndarray]


def _light_contour(axes: Axes, xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> None:
    """A pale filled contour, so coloured arrows and paths stand out on it."""
    levels = contour_levels(zs)
    axes.contourf(xs, ys, zs, levels=levels, cmap="Greys", alpha=0.45)
    axes.contour(xs, ys, zs, levels=levels[::2], colors="grey", linewidths=0.4, alpha=0.6)


def _hparam_text(label: str, hparams: Mapping[str, object]) -> str:
    shown = ", ".join(f"{key}={value}" for key, value in hparams.items() if not isinstance(value, bool))
    return f"{label}\n{shown}"


def _arrow(axes: Axes, origin: np.ndarray, vector: np.ndarray, colour: str, width: float) -> None:
    """An arrow in data units with a head of fixed size (points), so short arrows stay arrows;
    clipped at the frame like any patch."""
    if not np.isfinite(vector).all() or not np.any(vector):
        return
    style = {"arrowstyle": "-|>", "mutation_scale": 12, "shrinkA": 0, "shrinkB": 0, "zorder": 4}
    axes.add_patch(FancyArrowPatch(tuple(origin), tuple(origin + vector), color=colour, lw=width, **style))


def _zoom(axes: Axes, xs: np.ndarray, ys: np.ndarray, track: np.ndarray) -> Window | None:
    """Frame the path with a quarter of its span around it, never beyond the grid.

    Longer arrows (``lr g`` of an adaptive method can be far longer than its step) are clipped;
    a path leaving the grid is cut at its border (see :func:`mark_ends`).

    Returns:
        The window, or None (limits untouched) when no position is finite.
    """
    finite = track[np.isfinite(track).all(axis=1)]
    if not len(finite):
        return None
    extent = np.array([xs[-1] - xs[0], ys[-1] - ys[0]])
    low, high = finite.min(axis=0), finite.max(axis=0)
    margin = 0.25 * np.maximum(high - low, 0.1 * extent)
    window = (
        (max(low[0] - margin[0], xs[0]), min(high[0] + margin[0], xs[-1])),
        (max(low[1] - margin[1], ys[0]), min(high[1] + margin[1], ys[-1])),
    )
    axes.set_xlim(*window[0])
    axes.set_ylim(*window[1])
    return window


def _say(axes: Axes, text: str) -> None:
    """Write in the middle of an empty panel what happened to its data."""
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=9, wrap=True)


def state_arrows_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    trace: StateTrace,
    *,
    steps_to_show: Sequence[int],
    title: str,
    colour_index: int = 0,
    size: tuple[float, float] = (13.0, 6.5),
) -> Figure:
    """The path of one run with, at chosen steps, the vectors that made each step.

    From the point ``p_t`` it draws ``-lr g_t`` (the negative gradient), ``-lr m_t`` (the
    momentum buffer or first moment, when the optimizer keeps one) and the update actually
    applied, ``p_{t+1} - p_t``: all in position units, so their lengths compare. For RMSprop,
    AdaGrad and Adam a second panel shows the per-coordinate step ``lr / (sqrt(v) + eps)``,
    and the chosen points are annotated with it.

    Args:
        xs, ys: grid axes ``(nx,)``, ``(ny,)``; zs: the surface on it, ``(ny, nx)``.
        trace: the run (see :func:`optiscope.paths.state_trace.trace_state`).
        steps_to_show: step indices ``0 <= t < trace.steps`` to draw arrows at.
        title: figure title (name the surface and its formula).
        colour_index: the run's config index, for its colour.

    Raises:
        ValueError: a step index out of range.
    """
    bad = [t for t in steps_to_show if not 0 <= t < trace.steps]
    if bad:
        raise ValueError(f"steps_to_show must lie in [0, {trace.steps}), got {bad}")
    sizes = per_coordinate_step_sizes(trace)
    figure = Figure(figsize=size, layout="constrained")
    panels = figure.subplots(1, 2 if sizes else 1, squeeze=False, width_ratios=[3, 2] if sizes else None)[0]
    axes = panels[0]
    _light_contour(axes, xs, ys, zs)
    colour, linestyle, _ = line_style_for(colour_index)
    window = _zoom(axes, xs, ys, trace.positions)
    if window is None:
        _say(axes, f"{trace.label}: no finite position to draw")
    else:
        windowed = window_track(trace.positions, window)
        style = {"color": colour, "linestyle": linestyle, "marker": ".", "markersize": 3}
        axes.plot(*windowed.rows.T, linewidth=1.2, zorder=3, **style)
        mark_ends(axes, windowed, colour_index, window, slot=0)
    moment = next((name for name in _FIRST_MOMENTS if name in trace.state), None)
    for order, t in enumerate(steps_to_show):
        _draw_step(axes, trace, t, moment, sizes, below=bool(order % 2))
    axes.legend(
        handles=_arrow_legend(trace, moment, colour_index),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.09),
        fontsize=8,
        frameon=False,
    )
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(_hparam_text(trace.label, trace.hparams), fontsize=8)
    if sizes:
        _step_size_panel(panels[1], sizes, steps_to_show)
    figure.suptitle(title)
    return figure


def _draw_step(
    axes: Axes,
    trace: StateTrace,
    t: int,
    moment: str | None,
    sizes: tuple[str, np.ndarray] | None,
    *,
    below: bool,
) -> None:
    """Arrows (and the per-coordinate step, when known) at step ``t``, labelled above or below.

    Widest first, so an arrow that coincides with another (momentum = update) stays visible.
    """
    point, lr = trace.positions[t], trace.lrs[t]
    vectors = [(-lr * trace.gradients[t], _GRADIENT_COLOUR, _WIDTHS[0])]
    if moment is not None:
        vectors.append((-lr * trace.state[moment][t], _MOMENT_COLOUR, _WIDTHS[1]))
    vectors.append((trace.updates[t], _UPDATE_COLOUR, _WIDTHS[2]))
    for vector, colour, width in vectors:
        _arrow(axes, point, vector, colour, width)
    text = f"t={t}"
    if sizes:
        text += f"\nlr/(√v+ε) = ({sizes[1][t, 0]:.3g}, {sizes[1][t, 1]:.3g})"
    # The label goes on the side of the point that faces the middle of the frame, so its box
    # stays inside the axes instead of covering the tick labels.
    (x_low, x_high), (y_low, y_high) = axes.get_xlim(), axes.get_ylim()
    right = point[0] > (x_low + x_high) / 2
    below = (below or point[1] > y_low + 0.8 * (y_high - y_low)) and point[1] > y_low + 0.2 * (y_high - y_low)
    axes.annotate(
        text,
        point,
        xytext=(-8 if right else 8, -10 if below else 8),
        textcoords="offset points",
        ha="right" if right else "left",
        va="top" if below else "bottom",
        fontsize=7,
        zorder=6,
        annotation_clip=True,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.7, "linewidth": 0},
    )


def _arrow_legend(trace: StateTrace, moment: str | None, config: int) -> list[Line2D]:
    path = f"path of {trace.label} (start: white circle; this marker: its end)"
    handles = [
        config_handle(config, path),
        Line2D([], [], color=_GRADIENT_COLOUR, lw=_WIDTHS[0], label="−lr·g_t: negative gradient × lr"),
    ]
    if moment is not None:
        text = f"−lr·m_t: state '{moment}' (momentum / first moment) × lr"
        handles.append(Line2D([], [], color=_MOMENT_COLOUR, lw=_WIDTHS[1], label=text))
    text = "p_{t+1} − p_t: the update applied (arrows in position units, clipped at the frame)"
    handles.append(Line2D([], [], color=_UPDATE_COLOUR, lw=_WIDTHS[2], label=text))
    return handles


def _step_size_panel(axes: Axes, sizes: tuple[str, np.ndarray], steps_to_show: Sequence[int]) -> None:
    """Per-coordinate step size against step: how the accumulated squares rescale x and y."""
    name, values = sizes
    if not np.isfinite(values).any():
        _say(axes, f"no finite step size: '{name}' was never finite")
        return
    steps = np.arange(values.shape[0])
    axes.plot(steps, values[:, 0], color=colour_for(5), label="x coordinate")
    axes.plot(steps, values[:, 1], color=colour_for(6), label="y coordinate")
    for t in steps_to_show:
        axes.axvline(t, color="grey", linewidth=0.6, linestyle=":")
    if np.all(values[np.isfinite(values)] > 0):
        axes.set_yscale("log")
    axes.set_xlabel("step t")
    axes.set_ylabel(f"lr / (√v_t + ε), v_t = '{name}'")
    axes.set_title("per-coordinate step size (dotted: steps drawn)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def adagrad_full_vs_diagonal_figure(
    grads: np.ndarray,
    full_updates: np.ndarray,
    diagonal_updates: np.ndarray,
    *,
    eps: float = 1e-5,
    size: tuple[float, float] = (13.0, 6.5),
) -> Figure:
    """Seed 004's AdaGrad picture: gradients ``g_t`` (grey) and directions ``v_t`` (teal).

    Arrows start at the origin; step ``t`` fades as ``t`` grows; each tip is labelled with its
    norm. Left: full-matrix AdaGrad, right: the diagonal form frameworks ship.

    Args:
        grads: ``(N, 2)`` gradients.
        full_updates, diagonal_updates: ``(N, 2)`` directions, as returned by
            :func:`optiscope.paths.state_trace.adagrad_demo_updates`.
        eps: the ``eps`` they were computed with (printed in the titles).
    """
    figure = Figure(figsize=size, layout="constrained")
    left, right = figure.subplots(1, 2)
    every = np.vstack([grads, full_updates, diagonal_updates, np.zeros((1, 2))])
    every = every[np.isfinite(every).all(axis=1)]
    low, high = every.min(axis=0), every.max(axis=0)
    margin = 0.12 * float(np.max(high - low)) + 1e-12
    limits = (low - margin, high + margin)  # the same in both panels, so arrow lengths compare
    full_title = f"full matrix: v_t = (G_t^(1/2) + εI)^(-1) g_t, ε={eps:g}"
    _adagrad_panel(left, grads, full_updates, full_title, limits)
    diagonal_title = f"diagonal: v_t = g_t / (√(Σ_τ g_τ²) + ε), ε={eps:g}"
    _adagrad_panel(right, grads, diagonal_updates, diagonal_title, limits)
    figure.suptitle(
        "AdaGrad (Duchi et al. 2011): gradients g_t (grey) and preconditioned directions v_t "
        "(teal), G_t = Σ_τ g_τ g_τᵀ; later steps fainter"
    )
    return figure


def _adagrad_panel(
    axes: Axes, grads: np.ndarray, updates: np.ndarray, title: str, limits: tuple[np.ndarray, np.ndarray]
) -> None:
    count = len(grads)
    for t in range(count):
        alpha = 1.0 - 0.75 * t / max(count - 1, 1)
        for vector, colour, name in ((grads[t], _ADAGRAD_GRADIENT, "g"), (updates[t], _ADAGRAD_UPDATE, "v")):
            axes.annotate(
                "",
                xy=vector,
                xytext=(0.0, 0.0),
                arrowprops={"arrowstyle": "-|>", "color": colour, "alpha": alpha, "lw": 1.5},
            )
            text = f"$\\|{name}_{{{t}}}\\|={np.linalg.norm(vector):.2f}$"
            style = {"color": colour, "alpha": alpha, "fontsize": 7, "textcoords": "offset points"}
            axes.annotate(text, vector, xytext=(4, -4), **style)
    if not count:
        _say(axes, "no gradients given: nothing to precondition")
    # Equal units; the limits cover ``limits`` and grow to fill the panel (fixed limits would
    # leave a narrow panel in a wide figure).
    axes.update_datalim(np.asarray(limits))
    axes.margins(0.0)
    axes.autoscale()
    axes.set_aspect("equal", adjustable="datalim")
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.axvline(0.0, color="black", linewidth=0.5)
    axes.set_xlabel("coordinate 1")
    axes.set_ylabel("coordinate 2")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    named = ((_ADAGRAD_GRADIENT, "gradient g_t"), (_ADAGRAD_UPDATE, "update direction v_t"))
    handles = [Line2D([], [], color=colour, lw=2, label=text) for colour, text in named]
    axes.legend(handles=handles, fontsize=8, loc="upper left")


def lr_sweep_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    minima: Sequence[Sequence[float]] = (),
    columns: int = 3,
    panel_size: float = 4.2,
    axis_names: tuple[str, str] = ("x", "y"),
) -> Figure:
    """One panel per config of a sweep (one optimizer at several learning rates) on one surface.

    Each panel: the surface (same levels in every panel), the config's paths from every start,
    the known minima, and a title with the config and its final loss. A path leaving the grid
    stops at its border, where a diamond says "left at step k".

    Args:
        xs, ys, zs: the surface grid (``zs`` is ``(ny, nx)``).
        paths: the sweep, one config per learning rate.
        title: figure title (name the surface and its formula).
        minima: known minima, drawn as white stars.
        columns: panels per row.
        axis_names: names of the two coordinates (``Surface.axis_names`` where it has them).

    Raises:
        ValueError: ``paths`` holds no config.
    """
    count = len(paths.specs)
    if count == 0:
        raise ValueError("the sweep has no configs to draw")
    columns = min(columns, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(panel_size * columns + 1.0, panel_size * rows + 0.8), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    levels = contour_levels(zs)
    window = grid_window(xs, ys)
    filled = None
    for config, axes in enumerate(grid.flat):
        if config >= count:
            figure.delaxes(axes)
            continue
        filled = axes.contourf(xs, ys, np.ma.masked_invalid(zs), levels=levels, cmap="viridis")
        _draw_config(axes, paths, config, window)
        if len(minima):
            known = np.asarray(minima, dtype=float).reshape(-1, 2)
            axes.plot(known[:, 0], known[:, 1], "*", color="white", markersize=12, markeredgecolor="black")
        axes.set_xlim(*window[0])
        axes.set_ylim(*window[1])
        axes.set_xlabel(axis_names[0])
        axes.set_ylabel(axis_names[1])
        axes.set_title(legend_label(paths, config).replace(": ", "\n", 1), fontsize=9)
    label_colorbar(figure.colorbar(filled, ax=grid[:, -1].tolist(), label="loss"))
    figure.suptitle(title)
    return figure


def _draw_config(axes: Axes, paths: PathSet, config: int, window: Window) -> None:
    """Every run of ``config`` cut to ``window``: its start, and its end or the ring where it left."""
    colour, linestyle, _ = line_style_for(config)
    runs = range(config * paths.n_starts, (config + 1) * paths.n_starts)
    windowed = [window_track(paths.points[run, : int(paths.n_steps[run]) + 1], window) for run in runs]
    slots = exit_slots(windowed, window, ended_outside=True)
    label_exits = sum(slot is not None for slot in slots) <= _MAX_EXIT_NOTES
    for track, slot in zip(windowed, slots, strict=True):
        axes.plot(*track.rows.T, color=colour, linestyle=linestyle, marker=".", linewidth=1.3, markersize=2.5)
        mark_ends(axes, track, config, window, slot if label_exits else None)
    if not any(track.inside.any() for track in windowed):
        _say(axes, "no run has a finite position inside the grid")


def regression_surfaces_figure(
    surfaces: Mapping[str, Grid],
    data_x: np.ndarray,
    data_y: np.ndarray,
    fits: Mapping[str, tuple[float, float]],
    *,
    panel_size: float = 4.5,
) -> Figure:
    """Seed 003: the losses of a line ``y = theta0 + theta1 x`` over ``(theta0, theta1)``.

    One panel per loss (MSE, RMSE, MAE side by side, each with its own colour scale: MSE is on
    another scale than the other two) with the fitted parameters marked, then a panel with the
    data and the fitted lines.

    Args:
        surfaces: panel title (name and formula) -> grid ``(theta0s (n0,), theta1s (n1,),
            losses (n1, n0))``, e.g. from :meth:`Surface.grid`.
        data_x, data_y: the samples, each ``(n,)``.
        fits: label -> ``(theta0, theta1)``; one colour per fit in every panel.
    """
    count = len(surfaces) + 1
    figure = Figure(figsize=(panel_size * count, panel_size + 0.9), layout="constrained")
    panels = figure.subplots(1, count, squeeze=False)[0]
    for axes, (name, (xs, ys, zs)) in zip(panels, surfaces.items(), strict=False):
        if np.isfinite(zs).any():
            filled = axes.contourf(
                xs, ys, np.ma.masked_invalid(zs), levels=contour_levels(zs), cmap="viridis"
            )
            label_colorbar(figure.colorbar(filled, ax=axes, label="loss", shrink=0.85))
        else:
            _say(axes, "the loss is nowhere finite on this grid")
        for index, (theta0, theta1) in enumerate(fits.values()):
            axes.plot(theta0, theta1, "X", color=colour_for(index), markersize=9, markeredgecolor="black")
        axes.set_xlim(xs[0], xs[-1])
        axes.set_ylim(ys[0], ys[-1])
        axes.set_xlabel("θ0 (intercept)")
        axes.set_ylabel("θ1 (slope)")
        axes.set_title(name, fontsize=9)
    _data_panel(panels[-1], data_x, data_y, fits)
    figure.suptitle("Linear regression: loss surfaces over (θ0, θ1) (X: fitted parameters)")
    return figure


def _data_panel(
    axes: Axes, data_x: np.ndarray, data_y: np.ndarray, fits: Mapping[str, tuple[float, float]]
) -> None:
    """The samples and one fitted line per fit, in the fit's colour."""
    axes.scatter(data_x, data_y, s=10, color="grey", alpha=0.7, label="data")
    line_x = np.linspace(float(np.min(data_x)), float(np.max(data_x)), 50)
    for index, (label, (theta0, theta1)) in enumerate(fits.items()):
        text = f"{label}: θ0={theta0:.2f}, θ1={theta1:.2f}"
        axes.plot(line_x, theta0 + theta1 * line_x, color=colour_for(index), linewidth=2, label=text)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title("data and fitted lines ŷ = θ0 + θ1 x", fontsize=9)
    axes.legend(fontsize=7, loc="upper left")
    axes.grid(alpha=0.3)
