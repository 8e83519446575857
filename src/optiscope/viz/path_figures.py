"""Static figures of optimizer paths on a 2-D surface: contour + paths, loss vs step, basins.

Every function takes stored arrays (a surface grid, a :class:`PathSet`, basin maps) and returns
a matplotlib ``Figure``; nothing here runs an optimizer or writes a file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from optiscope.paths import DIVERGED, BasinMap, PathSet
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import colour_for

__all__ = ["basin_figure", "contour_with_paths", "drawn_starts", "format_loss", "legend_label", "loss_curves"]

_MAX_DRAWN_PER_CONFIG = 60


def format_loss(value: float) -> str:
    """A loss for a legend: 3 significant digits, scientific notation when tiny or huge."""
    if not np.isfinite(value):
        return str(value)
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.2e}"


def drawn_starts(n_starts: int, most: int = _MAX_DRAWN_PER_CONFIG) -> np.ndarray:
    """Indices of the starts drawn per config: all of them, or ``most`` spread evenly over them
    (a start grid is then sampled across the whole domain, not just its first rows)."""
    return np.unique(np.linspace(0, n_starts - 1, min(n_starts, most)).round().astype(int))


def legend_label(paths: PathSet, config: int) -> str:
    """``label: final loss`` for one start, or the median over starts with the diverged count."""
    runs = slice(config * paths.n_starts, (config + 1) * paths.n_starts)
    finals = paths.final_losses[runs]
    status = np.asarray(paths.status[runs])
    label = paths.labels[config]
    if paths.n_starts == 1:
        suffix = " (diverged)" if status[0] == "diverged" else ""
        return f"{label}: final loss {format_loss(float(finals[0]))}{suffix}"
    ok = status != "diverged"
    median = float(np.median(finals[ok])) if ok.any() else float("nan")
    diverged = int((~ok).sum())
    extra = f", {diverged} diverged" if diverged else ""
    return f"{label}: median final loss {format_loss(median)} over {paths.n_starts} starts{extra}"


def contour_with_paths(
    xs: np.ndarray,
    ys: np.ndarray,
    zs: np.ndarray,
    paths: PathSet,
    *,
    title: str,
    minima: Sequence[Sequence[float]] = (),
    size: tuple[float, float] = (9.0, 7.5),
) -> Figure:
    """Filled contour of the surface with every path, its start and end, and the known minima.

    Args:
        xs, ys: grid axes, shapes ``(nx,)`` and ``(ny,)``.
        zs: surface values, shape ``(ny, nx)``.
        paths: the runs to draw (at most 60 per config are drawn; the legend counts them all).
        title: figure title (name the surface and its formula).
        minima: known minima, drawn as white stars.
    """
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    levels = contour_levels(zs)
    filled = axes.contourf(xs, ys, zs, levels=levels, cmap="viridis")
    axes.contour(xs, ys, zs, levels=levels[::3], colors="white", linewidths=0.4, alpha=0.5)
    figure.colorbar(filled, ax=axes, label="loss")
    for config in range(len(paths.specs)):
        colour = colour_for(config)
        first = config * paths.n_starts
        drawn = first + drawn_starts(paths.n_starts)
        for run in drawn:
            last = int(paths.n_steps[run])
            track = paths.points[run, : last + 1]
            axes.plot(
                track[:, 0],
                track[:, 1],
                "-",
                color=colour,
                linewidth=1.4,
                alpha=0.9,
                label=legend_label(paths, config) if run == first else None,
            )
            axes.plot(*track[0], "o", color=colour, markersize=5, markeredgecolor="black")
            if np.isfinite(track[-1]).all():
                axes.plot(*track[-1], "X", color=colour, markersize=8, markeredgecolor="black")
    if len(minima):
        known = np.asarray(minima, dtype=float).reshape(-1, 2)
        axes.plot(
            known[:, 0],
            known[:, 1],
            "*",
            color="white",
            markersize=14,
            markeredgecolor="black",
            label="known minima",
        )
    axes.set_xlim(xs[0], xs[-1])
    axes.set_ylim(ys[0], ys[-1])
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title(title)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, ncol=1, frameon=False)
    return figure


def loss_curves(
    paths: PathSet, *, title: str, log: bool = True, size: tuple[float, float] = (9.0, 5.5)
) -> Figure:
    """Loss against step for every run; one colour per config, log scale when values allow."""
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    steps = np.arange(paths.points.shape[1])
    for config in range(len(paths.specs)):
        colour = colour_for(config)
        first = config * paths.n_starts
        for run in first + drawn_starts(paths.n_starts):
            last = int(paths.n_steps[run])
            axes.plot(
                steps[: last + 1],
                paths.losses[run, : last + 1],
                color=colour,
                linewidth=1.2,
                alpha=0.9 if paths.n_starts == 1 else 0.4,
                label=legend_label(paths, config) if run == first else None,
            )
    finite = paths.losses[np.isfinite(paths.losses)]
    if log and finite.size and float(finite.min()) > 0:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    return figure


def basin_figure(maps: Sequence[BasinMap], *, title: str, size_per_panel: float = 4.2) -> Figure:
    """One panel per config: colour = minimum reached (grey: none, black: diverged), shade = steps."""
    figure = Figure(figsize=(size_per_panel * len(maps) + 1.0, size_per_panel + 0.8), layout="constrained")
    panels = figure.subplots(1, len(maps), squeeze=False)[0]
    for axes, basin_map in zip(panels, maps, strict=True):
        count = len(basin_map.minima)
        # Labels run DIVERGED (-2), UNRESOLVED (-1), then 0..count-1: one colour each, in order.
        colours = ["#000000", "#BBBBBB"] + [colour_for(k + 8) for k in range(count)]
        cmap = ListedColormap(colours)
        norm = BoundaryNorm(np.arange(DIVERGED - 0.5, count + 0.5), cmap.N)
        axes.pcolormesh(basin_map.xs, basin_map.ys, basin_map.basin, cmap=cmap, norm=norm, shading="nearest")
        budget = max(int(basin_map.steps.max()), 1)
        shade = 0.55 * basin_map.steps / budget
        axes.pcolormesh(
            basin_map.xs,
            basin_map.ys,
            shade,
            cmap="Greys",
            vmin=0,
            vmax=1,
            alpha=shade,
            shading="nearest",
        )
        if count:
            axes.plot(
                basin_map.minima[:, 0],
                basin_map.minima[:, 1],
                "*",
                color="white",
                markersize=12,
                markeredgecolor="black",
            )
        shares = basin_map.fractions()
        axes.set_title(
            f"{basin_map.label}\nunresolved {shares['unresolved']:.0%}, diverged {shares['diverged']:.0%}",
            fontsize=9,
        )
        axes.set_xlabel("start x")
        axes.set_ylabel("start y")
    figure.suptitle(
        f"{title}: minimum reached (colour; grey none, black diverged), steps taken (darker = more)"
    )
    return figure
