"""Figures drawn from stored results (matplotlib, Agg; plotly); rendering never recomputes."""

from __future__ import annotations

from optiscope.viz import interactive
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import PALETTE, colour_for
from optiscope.viz.path_figures import basin_figure, contour_with_paths, legend_label, loss_curves
from optiscope.viz.teaching import (
    adagrad_full_vs_diagonal_figure,
    lr_sweep_figure,
    regression_surfaces_figure,
    state_arrows_figure,
)

__all__ = [
    "PALETTE",
    "adagrad_full_vs_diagonal_figure",
    "basin_figure",
    "colour_for",
    "contour_levels",
    "contour_with_paths",
    "interactive",
    "legend_label",
    "loss_curves",
    "lr_sweep_figure",
    "regression_surfaces_figure",
    "state_arrows_figure",
]
