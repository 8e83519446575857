"""Draw a stored landscape study: contour, heat map, 3-D (static and interactive), path fidelity.

Everything is drawn from the grid, the path table and the gradient the study computed; nothing
here evaluates the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optiscope.landscape.projection import PathProjection
from optiscope.viz.landscape_figures import (
    landscape_contour,
    landscape_curve,
    landscape_heatmap,
    landscape_surface3d,
    path_fidelity_figure,
)
from optiscope.viz.landscape_interactive import landscape_surface_plotly

__all__ = ["drawn_path", "render_landscape"]


def drawn_path(result: Any) -> PathProjection | None:
    """The path as drawn: the snapshots of the stored path table (at most a few hundred)."""
    if result.path_table is None or result.path is None:
        return None
    from optiscope.experiments.landscape_study import path_from_table

    return path_from_table(result.path_table, result.path.total_captured)


def render_landscape(result: Any, title: str) -> list[Path]:
    """Draw the study's figures and store them under the run directory's ``figures/``."""
    run_dir, grid, gradient = result.run_dir, result.grid, result.gradient
    path = drawn_path(result)
    if grid.dims == 1:
        return [run_dir.save_figure(landscape_curve(grid, title=title), "landscape_curve.png")]
    saved = [
        run_dir.save_figure(
            landscape_contour(grid, path=path, gradient=gradient, title=title), "contour.png"
        ),
        run_dir.save_figure(landscape_heatmap(grid, metric="loss", path=path, title=title), "heatmap.png"),
        run_dir.save_figure(landscape_surface3d(grid, path=path, title=title), "surface3d.png"),
    ]
    if np.isfinite(grid.accuracy).any():
        figure = landscape_heatmap(grid, metric="accuracy", path=path, title=title)
        saved.append(run_dir.save_figure(figure, "heatmap_accuracy.png"))
    if path is not None:
        table = result.path_table
        figure = path_fidelity_figure(
            path, table["true_loss"].to_numpy(), table["surface_loss"].to_numpy(), title=title
        )
        saved.append(run_dir.save_figure(figure, "path_fidelity.png"))
    interactive = landscape_surface_plotly(grid, path=path, title=title)
    saved.append(run_dir.write_text("figures/surface3d.plotly.json", interactive.to_json()))
    return saved
