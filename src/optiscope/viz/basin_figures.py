"""Basin maps of a start-grid study: which minimum each start reaches, and how fast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from optiscope.paths import DIVERGED, BasinMap
from optiscope.viz.palette import PALETTE

__all__ = ["basin_figure"]


def basin_figure(
    maps: Sequence[BasinMap],
    *,
    title: str,
    axis_names: tuple[str, str] = ("x", "y"),
    size_per_panel: float = 4.2,
) -> Figure:
    """One panel per config: colour = minimum reached (grey: none, black: diverged), shade = steps."""
    figure = Figure(figsize=(size_per_panel * len(maps) + 1.0, size_per_panel + 0.8), layout="constrained")
    panels = figure.subplots(1, len(maps), squeeze=False)[0]
    # The palette's later colours (the first ones mark configs elsewhere), without black and grey.
    basin_colours = [PALETTE[index] for index in (6, 7, 8, 10, 4, 5, 9)]
    for axes, basin_map in zip(panels, maps, strict=True):
        count = len(basin_map.minima)
        # Labels run DIVERGED (-2), UNRESOLVED (-1), then 0..count-1: one colour each, in order.
        colours = ["#000000", "#BBBBBB"] + [basin_colours[k % len(basin_colours)] for k in range(count)]
        cmap = ListedColormap(colours)
        norm = BoundaryNorm(np.arange(DIVERGED - 0.5, count + 0.5), cmap.N)
        axes.pcolormesh(basin_map.xs, basin_map.ys, basin_map.basin, cmap=cmap, norm=norm, shading="nearest")
        budget = max(int(basin_map.steps.max()), 1)
        shade = 0.55 * basin_map.steps / budget
        axes.pcolormesh(
            basin_map.xs, basin_map.ys, shade, cmap="Greys", vmin=0, vmax=1, alpha=shade, shading="nearest"
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
        axes.set_xlabel(f"start {axis_names[0]}")
        axes.set_ylabel(f"start {axis_names[1]}")
    figure.suptitle(
        f"{title}: minimum reached (colour; grey none, black diverged), steps taken (darker = more)"
    )
    return figure
