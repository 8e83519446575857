"""Static figures of a network's loss landscape: contour, 3-D surface, heat map, 1-D curve, panels.

After Li et al. (2018), "Visualizing the loss landscape of neural nets"; seed 000 figs. 1-6 and
seed 001 figs. 2, 4-11. Every function takes stored results and returns a matplotlib ``Figure``;
nothing here evaluates a loss or writes a file. Inputs are duck-typed:

- grid: ``alphas (n_alpha,)``, ``betas (n_beta,)`` or ``None`` for a line, ``loss`` and
  ``accuracy`` of shape ``(n_alpha, n_beta)`` (indexed ``[alpha, beta]``) or ``(n_alpha,)``, and
  an ``attrs`` dict (``directions_kind``, ``data``, ``samples``, ...).
- path: ``coords (k, 2)`` on the plane, ``steps (k,)`` or ``None``, ``captured (k,)`` (share of
  each snapshot's displacement the plane holds) and ``total_captured``.
- gradient: the centre gradient on the plane: an object with ``coords (2,)`` and optionally
  ``captured``, a ``(coords, captured)`` pair, or a bare ``(2,)`` array.

Random directions in a high-dimensional space are nearly orthogonal to a training path, so a path
drawn on a plane always says how much of its motion the plane captures, and below
:data:`OFF_PLANE_THRESHOLD` warns that the drawing is mostly off-plane (Li et al., sec. 7).
Non-finite losses (diverged points) are left blank and counted in the title.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, Colormap
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke
from matplotlib.ticker import FuncFormatter
from scipy.interpolate import RegularGridInterpolator

from optiscope.errors import SpecError
from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection, PlaneGradient
from optiscope.viz.interactive_frames import _finite_or_nan
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import colour_for
from optiscope.viz.path_figures import format_loss
from optiscope.viz.surface3d import auto_zlim, draw_surface

__all__ = [
    "OFF_PLANE_THRESHOLD",
    "capture_note",
    "descent_arrow",
    "diverged_note",
    "landscape_contour",
    "landscape_curve",
    "landscape_heatmap",
    "landscape_panels",
    "landscape_surface3d",
    "loss_on_plane",
    "path_coords",
    "path_fidelity_figure",
    "plane_arrays",
]

OFF_PLANE_THRESHOLD = 0.10
"""Below this share of the path's motion on the plane, a drawn path carries an off-plane warning."""
_ARROW_SHARE = 0.3  # the descent arrow spans this share of the plane's shorter side
_PATH_COLOUR, _START_COLOUR, _END_COLOUR, _ARROW_COLOUR = "white", colour_for(0), colour_for(2), "#D00000"
_KINDS = ("contour", "heatmap", "surface")


def _loss_ticks(colorbar: Any) -> None:
    """Label a loss colour bar with 3 significant digits (levels below 0.005 are not "0.00")."""
    colorbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: format_loss(float(value))))


def _cmap(name: str) -> Colormap:
    """``name`` with masked (non-finite) cells drawn light grey."""
    return colormaps[name].with_extremes(bad="#DDDDDD")


def plane_arrays(grid: LandscapeGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas, betas, loss (n_alpha, n_beta))`` of a 2-D grid as floats, non-finite -> NaN.

    Raises:
        SpecError: the grid is a 1-D line, its loss has the wrong shape, or no point is finite.
    """
    if grid.betas is None or np.ndim(grid.loss) != 2:
        raise SpecError("this figure needs a 2-D landscape grid (alphas x betas), got a 1-D line")
    alphas, betas = np.asarray(grid.alphas, dtype=float), np.asarray(grid.betas, dtype=float)
    loss = _finite_or_nan(np.asarray(grid.loss, dtype=float))
    if loss.shape != (alphas.size, betas.size):
        raise SpecError(
            f"grid loss has shape {loss.shape}, expected (n_alpha, n_beta) = {alphas.size, betas.size}"
        )
    if not np.isfinite(loss).any():
        raise SpecError("every point of the landscape grid has a non-finite loss: nothing to draw")
    return alphas, betas, loss


def diverged_note(values: np.ndarray) -> str:
    """``""``, or how many grid points are non-finite (diverged) and so left blank."""
    bad = int((~np.isfinite(values)).sum())
    return f"{bad} of {values.size} grid points non-finite (diverged), left blank" if bad else ""


def _describe(grid: LandscapeGrid, title: str, values: np.ndarray) -> str:
    """The title, then a line naming the directions and data (from ``attrs``), then the NaN note."""
    attrs = getattr(grid, "attrs", None) or {}
    facts = [f"{attrs['directions_kind']} directions"] if attrs.get("directions_kind") else []
    facts += [f"data: {attrs['data']}"] if attrs.get("data") else []
    facts += [f"{attrs['samples']} samples"] if attrs.get("samples") else []
    lines = [title, ", ".join(facts), diverged_note(values)]
    return "\n".join(line for line in lines if line)


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%" if abs(share) >= 1e-3 else f"{100 * share:.2g}%"


def capture_note(path: PathProjection | None) -> tuple[str, str | None]:
    """``("plane captures 2.1% of the path's motion", warning or None)``.

    The warning is set when the share is below :data:`OFF_PLANE_THRESHOLD`.
    """
    share = float(path.total_captured)
    note = f"plane captures {_percent(share)} of the path's motion"
    if share >= OFF_PLANE_THRESHOLD:
        return note, None
    warning = (
        f"warning: path mostly off-plane (< {_percent(OFF_PLANE_THRESHOLD)}):\n"
        "its drawn shape is not the real one\n(Li et al. 2018, sec. 7; use PCA directions)"
    )
    return note, warning


def _path_steps(path: PathProjection | None) -> np.ndarray:
    """The snapshots' steps, or their indices when the path has none."""
    steps = getattr(path, "steps", None)
    return np.arange(len(path.coords), dtype=float) if steps is None else np.asarray(steps, dtype=float)


def path_coords(path: PathProjection | None) -> tuple[np.ndarray, np.ndarray]:
    """``(coords (k, 2), steps (k,))`` of a path on a plane; steps count snapshots when it has none."""
    coords = np.asarray(path.coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise SpecError(f"a path on a plane needs coords of shape (k, 2), got {coords.shape}")
    return coords[:, :2], _path_steps(path)


def loss_on_plane(alphas: np.ndarray, betas: np.ndarray, loss: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The grid's loss at ``coords (k, 2)``, bilinear; NaN outside the grid (lifts a path onto it)."""
    interpolate = RegularGridInterpolator((alphas, betas), loss, bounds_error=False, fill_value=np.nan)
    return interpolate(coords)


def descent_arrow(
    gradient: PlaneGradient | None, alphas: np.ndarray, betas: np.ndarray
) -> tuple[np.ndarray, str] | None:
    """Tip of an arrow from the centre along ``-g`` (scaled to be visible) and its label.

    ``gradient.captured`` (like ``PathProjection.captured``) is a share of the squared norm,
    ``||P g||^2 / ||g||^2``; ``gradient.norm``, when present, is the full ``||g||``. Returns
    ``None`` when the projected gradient is zero or not finite.
    """
    if hasattr(gradient, "coords"):
        vector, captured = gradient.coords, getattr(gradient, "captured", None)
    elif isinstance(gradient, tuple) and len(gradient) == 2 and np.ndim(gradient[0]) == 1:
        vector, captured = gradient
    else:
        vector, captured = gradient, None
    vector = np.asarray(vector, dtype=float).reshape(-1)
    if vector.size != 2:
        raise SpecError(f"the gradient on the plane needs 2 coordinates, got {vector.size}")
    size = float(np.linalg.norm(vector))
    if not np.isfinite(size) or size == 0.0:
        return None
    length = _ARROW_SHARE * min(np.ptp(alphas), np.ptp(betas))
    full = getattr(gradient, "norm", None)
    facts = [
        f"||g|| = {format_loss(float(full))}" if full is not None else f"|g on plane| = {format_loss(size)}"
    ]
    facts += [f"plane holds {_percent(float(captured))} of ||g||^2"] if captured is not None else []
    return -vector / size * length, "descent -g (arrow not to scale)\n" + ", ".join(facts)


def _levels(values: np.ndarray, log_levels: bool | None, count: int = 30) -> np.ndarray:
    """:func:`contour_levels` (log-spaced when values span decades), or forced log/linear."""
    finite = values[np.isfinite(values)]
    low, high = float(finite.min()), float(finite.max())
    if log_levels is None or high - low <= 1e-12 * max(1.0, abs(high)):
        return contour_levels(values, count)
    if not log_levels:
        return np.linspace(low, high, count)
    spread = finite - low
    smallest = float(np.percentile(spread[spread > 0], 1))
    return np.concatenate([[low], low + np.geomspace(smallest, high - low, count - 1)])


def _background(
    axes: Axes,
    kind: str,
    alphas: np.ndarray,
    betas: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    cmap: str,
) -> Any:
    """Filled contour (+ lines) or heat map of ``values (n_alpha, n_beta)``; one colour per level band."""
    masked, norm = np.ma.masked_invalid(values.T), BoundaryNorm(levels, ncolors=256)
    if kind == "heatmap":
        return axes.pcolormesh(alphas, betas, masked, shading="nearest", cmap=_cmap(cmap), norm=norm)
    filled = axes.contourf(alphas, betas, masked, levels=levels, cmap=_cmap(cmap), norm=norm)
    axes.contour(alphas, betas, masked, levels=levels[::3], colors="white", linewidths=0.5, alpha=0.6)
    return filled


def _outside(coords: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> int:
    """How many of the path's snapshots lie outside the drawn grid."""
    inside = (alphas.min() <= coords[:, 0]) & (coords[:, 0] <= alphas.max())
    inside &= (betas.min() <= coords[:, 1]) & (coords[:, 1] <= betas.max())
    return int((~inside).sum())


def _write_capture(
    axes: Axes, path: PathProjection | None, outside: int = 0, three_d: bool = False, size: float = 8
) -> None:
    """The captured-share note (top left) and, below the threshold, the off-plane warning (bottom)."""
    note, warning = capture_note(path)
    if outside:
        note += f"\n{outside} of {len(path.coords)} snapshots lie outside the grid"
    write = axes.text2D if three_d else axes.text
    box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2}
    write(0.02, 0.98, note, transform=axes.transAxes, va="top", fontsize=size, bbox=box, gid="capture-note")
    if warning:
        box = {**box, "edgecolor": _ARROW_COLOUR}
        write(
            0.02,
            0.02,
            warning,
            transform=axes.transAxes,
            va="bottom",
            fontsize=size - 1,
            color=_ARROW_COLOUR,
            fontweight="bold",
            bbox=box,
            gid="off-plane-warning",
        )


def _draw_path(
    axes: Axes, path: PathProjection | None, alphas: np.ndarray, betas: np.ndarray, size: float
) -> Any:
    """The projected path: a line, its snapshots coloured by step, start (o) and end (X)."""
    coords, steps = path_coords(path)
    axes.plot(
        coords[:, 0],
        coords[:, 1],
        "-",
        color=_PATH_COLOUR,
        linewidth=1.3,
        path_effects=[withStroke(linewidth=2.6, foreground="black")],  # visible on light and dark
        gid="path",
        label="path",
    )
    points = axes.scatter(
        coords[:, 0], coords[:, 1], c=steps, cmap="cool", s=22, zorder=4, edgecolors="black", linewidths=0.3
    )
    for index, marker, colour, name in ((0, "o", _START_COLOUR, "start"), (-1, "X", _END_COLOUR, "end")):
        axes.plot(
            *coords[index],
            marker,
            color=colour,
            markersize=8,
            markeredgecolor="black",
            zorder=5,
            label=f"{name} (step {steps[index]:g})",
        )
    _write_capture(axes, path, outside=_outside(coords, alphas, betas), size=size)
    return points


def _legend_below(figure: Figure, axes: Axes) -> None:
    """The panel's labelled artists (centre, start, end) in one row under the figure."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8, frameon=False)


def _draw_plane(
    axes: Axes,
    kind: str,
    grid_arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    levels: np.ndarray,
    path: PathProjection | None = None,
    gradient: PlaneGradient | None = None,
    cmap: str = "viridis",
    text_size: float = 8,
) -> tuple[Any, Any, str | None]:
    """One panel: background, centre, path, gradient arrow.

    Returns:
        ``(background, path points or None, gradient label or None)``.
    """
    alphas, betas, values = grid_arrays
    background = _background(axes, kind, alphas, betas, values, levels, cmap)
    if alphas.min() <= 0 <= alphas.max() and betas.min() <= 0 <= betas.max():
        axes.plot(0, 0, "*", color="white", markersize=13, markeredgecolor="black", zorder=6, label="centre")
    points = _draw_path(axes, path, alphas, betas, text_size) if path is not None else None
    arrow = descent_arrow(gradient, alphas, betas) if gradient is not None else None
    label = None
    if arrow is not None:
        tip, label = arrow
        axes.annotate(
            "",
            xy=tuple(tip),
            xytext=(0.0, 0.0),
            gid="gradient",
            zorder=7,
            arrowprops={"arrowstyle": "-|>", "color": _ARROW_COLOUR, "lw": 2.2},
        )
        axes.plot([], [], "-", color=_ARROW_COLOUR, linewidth=2.2, label=label)  # legend entry of the arrow
    axes.set_xlim(alphas.min(), alphas.max())
    axes.set_ylim(betas.min(), betas.max())
    axes.set_xlabel("alpha (first direction)")
    axes.set_ylabel("beta (second direction)")
    return background, points, label


def landscape_contour(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    gradient: PlaneGradient | None = None,
    title: str = "",
    log_levels: bool | None = None,
    size: tuple[float, float] = (8.0, 6.5),
) -> Figure:
    """Filled contour and contour lines of the loss over (alpha, beta), as Li et al. fig. 1.

    Args:
        grid: a 2-D ``LandscapeGrid``.
        path: optional ``PathProjection``, drawn with start/end and snapshots coloured by step; the
            figure states the share of its motion the plane captures and warns below 10 %.
        gradient: optional centre gradient on the plane, drawn from the centre along ``-g``
            (its length scaled to 30 % of the shorter side). It is drawn as given: to be normal to
            the contours it must be the slice's own gradient ``(g.d1, g.d2)``, which equals the
            projection's coordinates when the directions are orthonormal.
        title: first title line; the directions, data and any non-finite count follow.
        log_levels: ``None`` lets :func:`contour_levels` decide, ``True``/``False`` force log/linear.

    Raises:
        SpecError: the grid is 1-D, or its loss is nowhere finite.
    """
    arrays = plane_arrays(grid)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    filled, points, _ = _draw_plane(axes, "contour", arrays, _levels(arrays[2], log_levels), path, gradient)
    spacing = np.diff(filled.levels)
    spaced = "linear" if np.allclose(spacing, spacing[0]) else "log-spaced above the minimum"
    _loss_ticks(figure.colorbar(filled, ax=axes, label=f"loss (levels {spaced})"))
    _legend_below(figure, axes)
    if points is not None:
        figure.colorbar(points, ax=axes, label="path step", pad=0.01)
    axes.set_title(_describe(grid, title, arrays[2]), fontsize=10)
    return figure


def landscape_heatmap(
    grid: LandscapeGrid,
    metric: str = "loss",
    path: PathProjection | None = None,
    title: str = "",
    size: tuple[float, float] = (7.5, 6.0),
) -> Figure:
    """Heat map of ``loss`` or ``accuracy`` over (alpha, beta) (seed 001 figs. 4-7).

    Raises:
        SpecError: unknown metric, a 1-D grid, or a metric that is nowhere finite (e.g. no accuracy).
    """
    if metric not in ("loss", "accuracy"):
        raise SpecError(f"heat map metric must be 'loss' or 'accuracy', got {metric!r}")
    alphas, betas, loss = plane_arrays(grid)
    values = loss if metric == "loss" else _finite_or_nan(np.asarray(grid.accuracy, dtype=float))
    if not np.isfinite(values).any():
        raise SpecError(f"the landscape grid holds no finite {metric} values")
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    levels = _levels(values, None if metric == "loss" else False)
    cmap = "viridis" if metric == "loss" else "magma"
    mesh, _, _ = _draw_plane(axes, "heatmap", (alphas, betas, values), levels, path, cmap=cmap)
    figure.colorbar(mesh, ax=axes, label=metric)
    _legend_below(figure, axes)
    axes.set_title(_describe(grid, title, values), fontsize=10)
    return figure


def _draw_surface_panel(
    axes: Any,
    arrays: tuple[np.ndarray, ...],
    zlim: tuple[float, float],
    path: PathProjection | None,
    view: tuple[float, float],
    text_size: float = 8,
) -> None:
    """3-D surface (clipped to ``zlim``) with the path lifted onto it."""
    alphas, betas, loss = arrays
    draw_surface(axes, alphas, betas, loss.T, zlim, view)
    axes.set(xlabel="alpha", ylabel="beta")
    if path is None:
        return
    coords, _ = path_coords(path)
    height = np.clip(loss_on_plane(alphas, betas, loss, coords), *zlim) + 0.01 * (zlim[1] - zlim[0])
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
    _write_capture(axes, path, outside=_outside(coords, alphas, betas), three_d=True, size=text_size)


def landscape_surface3d(
    grid: LandscapeGrid,
    path: PathProjection | None = None,
    title: str = "",
    view: tuple[float, float] = (35.0, -60.0),
    size: tuple[float, float] = (8.0, 6.5),
) -> Figure:
    """The loss over (alpha, beta) as a 3-D surface (seed 000 fig. 2, seed 001 figs. 8-11).

    The z-axis runs from the minimum to a high percentile (:func:`auto_zlim`) so a few huge
    corners do not flatten the basin; the path rides on the surface (the slice's loss at each
    projected snapshot), not at its true loss, which :func:`path_fidelity_figure` compares.
    """
    arrays = plane_arrays(grid)
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot(projection="3d")
    _draw_surface_panel(axes, arrays, auto_zlim(arrays[2]), path, view)
    axes.set_title(_describe(grid, title, arrays[2]), fontsize=10)
    return figure


def landscape_curve(
    grid: LandscapeGrid,
    title: str = "",
    quadratic: np.ndarray | None = None,
    size: tuple[float, float] = (8.0, 4.8),
) -> Figure:
    """Loss along a line with accuracy on a twin axis (Li et al. interpolation plots).

    Args:
        grid: a 1-D ``LandscapeGrid`` (``betas`` is ``None``).
        title: first title line.
        quadratic: optional ``(n_alpha,)`` second-order model, e.g. ``L + a g.v + a^2 lambda / 2``
            along the top Hessian eigenvector (seed 001 fig. 2), drawn dashed beside the loss.

    Raises:
        SpecError: the grid is 2-D or ``quadratic`` does not match ``alphas``.
    """
    if grid.betas is not None or np.ndim(grid.loss) != 1:
        raise SpecError("landscape_curve draws a 1-D line (betas None); use landscape_contour for a plane")
    alphas = np.asarray(grid.alphas, dtype=float)
    loss = _finite_or_nan(np.asarray(grid.loss, dtype=float))
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(alphas, loss, "-", color=colour_for(6), linewidth=2, label="loss", gid="loss")
    if quadratic is not None:
        model = np.asarray(quadratic, dtype=float)
        if model.shape != alphas.shape:
            raise SpecError(f"quadratic has shape {model.shape}, expected {alphas.shape} (one per alpha)")
        axes.plot(
            alphas,
            model,
            "--",
            color=colour_for(2),
            linewidth=1.6,
            gid="quadratic",
            label="second-order model L + a g.v + a^2 lambda/2",
        )
    finite = loss[np.isfinite(loss)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        axes.set_yscale("log")
    if alphas.min() <= 0 <= alphas.max():
        axes.axvline(0.0, color="grey", linewidth=0.8, linestyle=":")
    handles, labels = axes.get_legend_handles_labels()
    accuracy = getattr(grid, "accuracy", None)
    accuracy = None if accuracy is None else _finite_or_nan(np.asarray(accuracy, dtype=float))
    if accuracy is not None and np.isfinite(accuracy).any():
        twin = axes.twinx()
        twin.plot(alphas, accuracy, "-", color=colour_for(0), linewidth=1.6, label="accuracy", gid="accuracy")
        twin.set_ylabel("accuracy", color=colour_for(0))
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    interpolate = (getattr(grid, "attrs", None) or {}).get("directions_kind") == "interpolate"
    axes.set_xlabel(
        "alpha (0: first model, 1: second model)" if interpolate else "alpha (step along direction)"
    )
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    figure.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    axes.set_title(_describe(grid, title, loss), fontsize=10)
    return figure


def path_fidelity_figure(
    path: PathProjection | None,
    true_path_loss: np.ndarray | None = None,
    surface_path_loss: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Does the slice tell the truth about the path? Captured share and true vs slice loss per step.

    Left: the share of each snapshot's displacement the plane holds (0..1), the whole path's share
    and the off-plane threshold. Right (when a loss is given): the true loss at each snapshot
    beside the landscape's loss at its projected point, with their largest gap.
    """
    steps = _path_steps(path)
    losses_given = true_path_loss is not None or surface_path_loss is not None
    figure = Figure(figsize=(11.0 if losses_given else 6.0, 4.2), layout="constrained")
    panels = figure.subplots(1, 2 if losses_given else 1, squeeze=False)[0]
    share = panels[0]
    share.plot(
        steps,
        np.asarray(path.captured, dtype=float),
        "o-",
        color=colour_for(6),
        markersize=3,
        gid="captured",
        label="each snapshot",
    )
    share.axhline(
        float(path.total_captured),
        color=colour_for(0),
        linestyle="--",
        label=f"whole path: {_percent(float(path.total_captured))}",
    )
    share.axhline(
        OFF_PLANE_THRESHOLD,
        color=_ARROW_COLOUR,
        linestyle=":",
        label=f"{_percent(OFF_PLANE_THRESHOLD)}: below it the path is mostly off-plane",
    )
    share.set(
        ylim=(0.0, 1.02),
        xlabel="step",
        ylabel="share of displacement on the plane",
        title="how much of each snapshot the plane holds",
    )
    share.legend(fontsize=8)
    if losses_given:
        _draw_path_losses(panels[1], steps, true_path_loss, surface_path_loss)
    for axes in panels:
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    return figure


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
    axes.set(xlabel="step", ylabel="loss", title=heading)
    axes.legend(fontsize=8)


def landscape_panels(
    grids: Sequence[Any],
    labels: Sequence[str],
    paths: Sequence[Any] | None = None,
    kind: str = "contour",
    shared_levels: bool = True,
    title: str = "",
    gradients: Sequence[Any] | None = None,
    panel_size: float = 4.0,
) -> Figure:
    """Side-by-side landscapes (seed 000 fig. 1 per batch, fig. 3 per optimizer, figs. 4-6 per setting).

    Args:
        grids: 2-D ``LandscapeGrid`` per panel.
        labels: one panel title each (e.g. ``"batch 64"``).
        paths: optional ``PathProjection`` (or ``None``) per panel; each gets its own captured note.
        kind: ``contour``, ``heatmap`` or ``surface`` (3-D).
        shared_levels: one set of colour levels (or z-limits) and one colour bar for all panels,
            so equal colours mean equal losses across panels.
        title: figure title.
        gradients: optional centre gradient (or ``None``) per panel (2-D kinds only).
        panel_size: inches per panel side.

    Raises:
        SpecError: unknown kind, lengths that do not match, or any grid that is 1-D.
    """
    count = len(grids)
    if kind not in _KINDS:
        raise SpecError(f"panel kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    paths, gradients = paths or [None] * count, gradients or [None] * count
    if not count or not len(labels) == len(paths) == len(gradients) == count:
        raise SpecError(f"need one label, path and gradient per grid: {count} grids, {len(labels)} labels")
    arrays = [plane_arrays(grid) for grid in grids]
    columns = count if count <= 3 else int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    figure = Figure(figsize=(panel_size * columns + 1.2, panel_size * rows + 0.8), layout="constrained")
    everything = np.concatenate([loss.ravel() for _, _, loss in arrays])
    panels, mappable = [], None
    for index, (grid_arrays, label) in enumerate(zip(arrays, labels, strict=True)):
        values = grid_arrays[2] if not shared_levels else everything
        notes = [label, diverged_note(grid_arrays[2])]
        if kind == "surface":
            axes = figure.add_subplot(rows, columns, index + 1, projection="3d")
            _draw_surface_panel(axes, grid_arrays, auto_zlim(values), paths[index], (35.0, -60.0), 7)
        else:
            axes = figure.add_subplot(rows, columns, index + 1)
            levels = _levels(values, None)
            mappable, _, arrow = _draw_plane(
                axes, kind, grid_arrays, levels, paths[index], gradients[index], text_size=7
            )
            notes.append(arrow)
            if not shared_levels:
                _loss_ticks(figure.colorbar(mappable, ax=axes, label="loss"))
        axes.set_title("\n".join(note for note in notes if note), fontsize=8)
        panels.append(axes)
    if shared_levels and mappable is not None:
        _loss_ticks(
            figure.colorbar(mappable, ax=panels, label="loss (levels shared by all panels)", shrink=0.8)
        )
    if title:
        figure.suptitle(title)
    return figure
