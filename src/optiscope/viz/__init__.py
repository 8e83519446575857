"""Figures drawn from stored results (matplotlib, Agg); rendering never recomputes."""

from __future__ import annotations

from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import PALETTE, colour_for
from optiscope.viz.path_figures import basin_figure, contour_with_paths, legend_label, loss_curves

__all__ = [
    "PALETTE",
    "basin_figure",
    "colour_for",
    "contour_levels",
    "contour_with_paths",
    "legend_label",
    "loss_curves",
]
