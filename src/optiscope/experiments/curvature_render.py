"""Draw a stored curvature study: density, loss along the top eigenvector(s). Draws only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optiscope.curvature import density_figure
from optiscope.landscape.grid import LandscapeGrid
from optiscope.viz.landscape_figures import landscape_curve, landscape_heatmap, landscape_surface3d
from optiscope.viz.landscape_interactive import landscape_surface_plotly

__all__ = ["render_curvature"]


def render_curvature(result: Any, title: str) -> list[Path]:
    """Store the study's figures under the run directory's ``figures/``."""
    run_dir, saved = result.run_dir, []
    if result.density is not None:
        saved.append(run_dir.save_figure(density_figure(result.density), "density.png"))
    line = result.along_line
    if line is not None:
        lam = float(result.spectrum.values[0])
        grid = LandscapeGrid(
            line["e"].to_numpy(),
            None,
            line["loss"].to_numpy(),
            line["accuracy"].to_numpy(),
            {"directions_kind": "hessian", "data": "top eigenvector"},
        )
        figure = landscape_curve(
            grid, title=f"{title}: along v1 (lambda1 = {lam:.4g})", quadratic=line["quadratic"].to_numpy()
        )
        saved.append(run_dir.save_figure(figure, "along_top1.png"))
    plane = result.along_plane
    if plane is not None:
        plane_title = f"{title}: along v1, v2"
        saved.append(
            run_dir.save_figure(landscape_heatmap(plane, title=plane_title), "along_top2_heatmap.png")
        )
        saved.append(run_dir.save_figure(landscape_surface3d(plane, title=plane_title), "along_top2_3d.png"))
        figure = landscape_surface_plotly(plane, title=plane_title)
        saved.append(run_dir.write_text("figures/along_top2.plotly.json", figure.to_json()))
    return saved
