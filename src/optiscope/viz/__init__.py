"""Figures drawn from stored results (matplotlib, Agg; plotly); rendering never recomputes."""

from __future__ import annotations

from optiscope.viz import interactive
from optiscope.viz.animation import animate_contour, animate_loss, animate_surface_3d, current_loss_labels
from optiscope.viz.landscape_figures import (
    landscape_contour,
    landscape_curve,
    landscape_heatmap,
    landscape_panels,
    landscape_surface3d,
    path_fidelity_figure,
)
from optiscope.viz.landscape_interactive import landscape_contour_plotly, landscape_surface_plotly
from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import PALETTE, colour_for
from optiscope.viz.path_figures import (
    basin_figure,
    contour_with_paths,
    format_loss,
    legend_label,
    loss_curves,
)
from optiscope.viz.report import render_report
from optiscope.viz.surface3d import surface_3d_with_paths
from optiscope.viz.teaching import (
    adagrad_full_vs_diagonal_figure,
    lr_sweep_figure,
    regression_surfaces_figure,
    state_arrows_figure,
)

__all__ = [
    "PALETTE",
    "adagrad_full_vs_diagonal_figure",
    "animate_contour",
    "animate_loss",
    "animate_surface_3d",
    "basin_figure",
    "colour_for",
    "contour_levels",
    "contour_with_paths",
    "current_loss_labels",
    "format_loss",
    "interactive",
    "landscape_contour",
    "landscape_contour_plotly",
    "landscape_curve",
    "landscape_heatmap",
    "landscape_panels",
    "landscape_surface3d",
    "landscape_surface_plotly",
    "legend_label",
    "loss_curves",
    "lr_sweep_figure",
    "path_fidelity_figure",
    "regression_surfaces_figure",
    "render_report",
    "state_arrows_figure",
    "surface_3d_with_paths",
]
