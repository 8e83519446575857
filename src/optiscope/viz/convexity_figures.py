"""Li et al.'s convexity map beside the loss contour of the same plane (2018, sec. 6, fig. 7).

The left panel is the loss contour of the landscape grid; the right one colours each point of a
(coarser) grid of the same plane by ``|lambda_min / lambda_max|`` of the Hessian, with the loss
contour lines over it. Both panels share their axes, so a region reads the same in each: near 0
the slice's apparent convexity is real, large values mean strong negative curvature the 2-D
slice hides. Points where ``lambda_max`` is 0 (no ratio) are left grey, not coloured.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from optiscope.errors import SpecError
from optiscope.landscape.convexity import ConvexityMap
from optiscope.landscape.grid import LandscapeGrid
from optiscope.viz.landscape_plane import Limits, describe, draw_plane, plane_arrays, plane_levels
from optiscope.viz.levels import label_colorbar

__all__ = ["RATIO_LABEL", "convexity_figure", "convexity_note"]

RATIO_LABEL = "|lambda_min / lambda_max| (0: convex here, larger: more non-convex)"


def convexity_note(found: ConvexityMap) -> str:
    """How much the map cost: points, and Hessian-vector products in all and per point."""
    points, products = found.products.size, int(found.products.sum())
    return (
        f"{found.lambda_max.shape[0]} x {found.lambda_max.shape[1]} points, {products} Hessian-vector "
        f"products\n({products / points:.0f} a point: lambda_max and lambda_min, warm-started)"
    )


def convexity_figure(
    grid: LandscapeGrid,
    found: ConvexityMap,
    title: str = "",
    size: tuple[float, float] = (13.0, 6.0),
    limits: tuple[Limits, Limits] = (None, None),
) -> Figure:
    """The loss contour (left) and the ratio ``|lambda_min / lambda_max|`` (right) on shared axes.

    Args:
        grid: the 2-D loss grid of the plane.
        found: the convexity map of the same plane (any grid of it).
        title: first title line; the directions and data follow.
        size: figure size in inches.
        limits: ``(alpha range, beta range)`` of both panels; ``None`` is the loss grid's own.

    Raises:
        SpecError: the loss grid is 1-D or nowhere finite, or the map is nowhere finite.
    """
    alphas, betas, loss = plane_arrays(grid)
    ratio = found.ratio
    if not np.isfinite(ratio).any():
        raise SpecError("the convexity map holds no finite |lambda_min / lambda_max|: nothing to draw")
    figure = Figure(figsize=size, layout="constrained")
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    levels = plane_levels(loss, None)
    filled, _, _ = draw_plane(left, "contour", (alphas, betas, loss), levels, limits=limits)
    label_colorbar(figure.colorbar(filled, ax=left, label="loss"))
    left.set_title("loss", fontsize=10)
    high = max(float(np.nanmax(ratio)), 1e-12)
    mesh = right.pcolormesh(
        found.alphas, found.betas, np.ma.masked_invalid(ratio.T), shading="nearest", vmin=0.0, vmax=high,
        cmap=colormaps["magma"].with_extremes(bad="#DDDDDD"),
    )  # fmt: skip
    right.contour(alphas, betas, np.ma.masked_invalid(loss.T), levels=levels[::3], colors="white",
                  linewidths=0.6, alpha=0.7)  # fmt: skip
    if alphas.min() <= 0 <= alphas.max() and betas.min() <= 0 <= betas.max():
        right.plot(0, 0, "*", color="white", markersize=13, markeredgecolor="black", zorder=6)
    label_colorbar(figure.colorbar(mesh, ax=right, label=RATIO_LABEL))
    right.set_xlim(limits[0] or (alphas.min(), alphas.max()))
    right.set_ylim(limits[1] or (betas.min(), betas.max()))
    right.set_xlabel("alpha (first direction)")
    right.set_title("convexity (Li et al. 2018, sec. 6); white: loss contours", fontsize=10)
    right.text(0.02, 0.02, convexity_note(found), transform=right.transAxes, fontsize=8, va="bottom",
               bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2},
               gid="hvp-note")  # fmt: skip
    figure.suptitle(describe(grid, title, loss), fontsize=10)
    return figure
