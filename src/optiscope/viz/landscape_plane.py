"""The pieces every landscape-plane figure shares: reading a grid, notes, the path, the arrow.

Inputs are the stored value objects (duck-typed, so a stand-in with the same fields works):

- grid: ``alphas (n_alpha,)``, ``betas (n_beta,)`` or ``None`` for a line, ``loss`` and
  ``accuracy`` of shape ``(n_alpha, n_beta)`` (indexed ``[alpha, beta]``) or ``(n_alpha,)``, and
  an ``attrs`` dict (``directions_kind``, ``data``, ``samples``, ...).
- path: ``coords (k, 2)`` on the plane, ``steps (k,)`` or ``None``, ``captured (k,)`` (share of
  each snapshot's displacement the plane holds) and ``total_captured``.
- gradient: the centre gradient on the plane: an object with ``coords (2,)`` and optionally
  ``captured``, a ``(coords, captured)`` pair, or a bare ``(2,)`` array.

Random directions in a high-dimensional space are nearly orthogonal to a training path, so a path
drawn on a plane always says how much of its motion the plane captures, and below
:data:`OFF_PLANE_THRESHOLD` warns that the drawing is mostly off-plane (Li et al. 2018, sec. 7).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, Colormap
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke
from scipy.interpolate import RegularGridInterpolator

from optiscope.errors import SpecError
from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection, PlaneGradient
from optiscope.viz.interactive_frames import _finite_or_nan
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import colour_for
from optiscope.viz.path_figures import format_loss

__all__ = [
    "OFF_PLANE_THRESHOLD",
    "Limits",
    "capture_note",
    "descent_arrow",
    "describe",
    "diverged_note",
    "draw_plane",
    "legend_below",
    "loss_on_plane",
    "path_coords",
    "path_steps",
    "percent",
    "plane_arrays",
    "plane_levels",
]

OFF_PLANE_THRESHOLD = 0.10
"""Below this share of the path's motion on the plane, a drawn path carries an off-plane warning."""
_ARROW_SHARE = 0.3  # the descent arrow spans this share of the plane's shorter side
_PATH_COLOUR, _START_COLOUR, _END_COLOUR = "white", colour_for(0), colour_for(2)
WARNING_COLOUR = "#D00000"
Limits = tuple[float, float] | None
"""An axis range ``(low, high)``, or ``None`` for the grid's own."""


def _cmap(name: str) -> Colormap:
    """``name`` with masked (non-finite) cells drawn light grey."""
    return colormaps[name].with_extremes(bad="#DDDDDD")


def plane_arrays(
    grid: LandscapeGrid, require_finite: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas, betas, loss (n_alpha, n_beta))`` of a 2-D grid as floats, non-finite -> NaN.

    Raises:
        SpecError: the grid is a 1-D line, its loss has the wrong shape, or (``require_finite``)
            no point is finite.
    """
    if grid.betas is None or np.ndim(grid.loss) != 2:
        raise SpecError("this figure needs a 2-D landscape grid (alphas x betas), got a 1-D line")
    alphas, betas = np.asarray(grid.alphas, dtype=float), np.asarray(grid.betas, dtype=float)
    loss = _finite_or_nan(np.asarray(grid.loss, dtype=float))
    if loss.shape != (alphas.size, betas.size):
        raise SpecError(
            f"grid loss has shape {loss.shape}, expected (n_alpha, n_beta) = {alphas.size, betas.size}"
        )
    if require_finite and not np.isfinite(loss).any():
        raise SpecError("every point of the landscape grid has a non-finite loss: nothing to draw")
    return alphas, betas, loss


def diverged_note(values: np.ndarray) -> str:
    """``""``, or how many grid points are non-finite (diverged) and so left blank."""
    bad = int((~np.isfinite(values)).sum())
    return f"{bad} of {values.size} grid points non-finite (diverged), left blank" if bad else ""


def describe(grid: LandscapeGrid, title: str, values: np.ndarray) -> str:
    """The title, then a line naming the directions and data (from ``attrs``), then the NaN note."""
    attrs = getattr(grid, "attrs", None) or {}
    facts = [f"{attrs['directions_kind']} directions"] if attrs.get("directions_kind") else []
    facts += [f"data: {attrs['data']}"] if attrs.get("data") else []
    facts += [f"{attrs['samples']} samples"] if attrs.get("samples") else []
    lines = [title, ", ".join(facts), diverged_note(values)]
    return "\n".join(line for line in lines if line)


def percent(share: float) -> str:
    """``12.3%``, or two significant digits below 0.1 %."""
    return f"{100 * share:.1f}%" if abs(share) >= 1e-3 else f"{100 * share:.2g}%"


def capture_note(path: PathProjection | None) -> tuple[str, str | None]:
    """``("plane captures 2.1% of the path's motion", warning or None)``.

    The warning is set when the share is below :data:`OFF_PLANE_THRESHOLD`.
    """
    share = float(path.total_captured)
    note = f"plane captures {percent(share)} of the path's motion"
    if share >= OFF_PLANE_THRESHOLD:
        return note, None
    warning = (
        f"warning: path mostly off-plane (< {percent(OFF_PLANE_THRESHOLD)}):\n"
        "its drawn shape is not the real one\n(Li et al. 2018, sec. 7; use PCA directions)"
    )
    return note, warning


def path_steps(path: PathProjection | None) -> np.ndarray:
    """The snapshots' steps, or their indices when the path has none."""
    steps = getattr(path, "steps", None)
    return np.arange(len(path.coords), dtype=float) if steps is None else np.asarray(steps, dtype=float)


def path_coords(path: PathProjection | None) -> tuple[np.ndarray, np.ndarray]:
    """``(coords (k, 2), steps (k,))`` of a path on a plane; steps count snapshots when it has none."""
    coords = np.asarray(path.coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise SpecError(f"a path on a plane needs coords of shape (k, 2), got {coords.shape}")
    return coords[:, :2], path_steps(path)


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
    facts += [f"plane holds {percent(float(captured))} of ||g||^2"] if captured is not None else []
    return -vector / size * length, "descent -g (arrow not to scale)\n" + ", ".join(facts)


def plane_levels(values: np.ndarray, log_levels: bool | None, count: int = 30) -> np.ndarray:
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


def outside_count(coords: np.ndarray, alphas: np.ndarray, betas: np.ndarray) -> int:
    """How many of the path's snapshots lie outside the drawn grid."""
    inside = (alphas.min() <= coords[:, 0]) & (coords[:, 0] <= alphas.max())
    inside &= (betas.min() <= coords[:, 1]) & (coords[:, 1] <= betas.max())
    return int((~inside).sum())


def write_capture(
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
        box = {**box, "edgecolor": WARNING_COLOUR}
        write(
            0.02,
            0.02,
            warning,
            transform=axes.transAxes,
            va="bottom",
            fontsize=size - 1,
            color=WARNING_COLOUR,
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
    write_capture(axes, path, outside=outside_count(coords, alphas, betas), size=size)
    return points


def legend_below(figure: Figure, axes: Axes) -> None:
    """The panel's labelled artists (centre, start, end) in one row under the figure."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8, frameon=False)


def draw_plane(
    axes: Axes,
    kind: str,
    grid_arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    levels: np.ndarray,
    path: PathProjection | None = None,
    gradient: PlaneGradient | None = None,
    cmap: str = "viridis",
    text_size: float = 8,
    limits: tuple[Limits, Limits] = (None, None),
) -> tuple[Any, Any, str | None]:
    """One panel: background, centre, path, gradient arrow, axes over ``limits`` (or the grid).

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
            arrowprops={"arrowstyle": "-|>", "color": WARNING_COLOUR, "lw": 2.2},
        )
        axes.plot([], [], "-", color=WARNING_COLOUR, linewidth=2.2, label=label)  # legend entry of the arrow
    axes.set_xlim(limits[0] or (alphas.min(), alphas.max()))
    axes.set_ylim(limits[1] or (betas.min(), betas.max()))
    axes.set_xlabel("alpha (first direction)")
    axes.set_ylabel("beta (second direction)")
    return background, points, label
