"""A stored landscape study: read back from its files, and drawn (contour, heat map, 3-D, fidelity).

Everything is drawn from the grid, the path table and the gradient the study stored; nothing
here evaluates the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patheffects import withStroke

from optiscope.experiments.landscape_convexity import load_convexity
from optiscope.experiments.protocol import Style
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.grid import LandscapeGrid
from optiscope.landscape.projection import PathProjection, PlaneGradient
from optiscope.store import RunDir
from optiscope.viz.convexity_figures import convexity_figure
from optiscope.viz.landscape_figures import (
    landscape_contour,
    landscape_curve,
    landscape_heatmap,
    landscape_surface3d,
)
from optiscope.viz.landscape_interactive import landscape_surface_plotly
from optiscope.viz.landscape_plane import (
    Limits,
    describe,
    draw_plane,
    legend_below,
    plane_arrays,
    plane_levels,
)
from optiscope.viz.levels import label_colorbar
from optiscope.viz.palette import line_style_for
from optiscope.viz.path_fidelity import path_fidelity_figure
from optiscope.viz.plotly_files import save_plotly

__all__ = [
    "DIRECTIONS_FILE",
    "GRID_FILE",
    "LandscapeResult",
    "drawn_path",
    "joint_contour",
    "load_landscape",
    "path_from_table",
    "render_landscape",
]

DIRECTIONS_FILE = "directions.safetensors"
GRID_FILE = "landscape.nc"


@dataclass
class LandscapeResult:
    """What a landscape study produced (the objects the figures are drawn from)."""

    grid: LandscapeGrid
    directions: Directions
    run_dir: RunDir
    path: PathProjection | None = None
    path_table: pd.DataFrame | None = None
    gradient: PlaneGradient | None = None
    runs: tuple[tuple[str, PathProjection], ...] = ()
    """Several runs on one plane (pca-joint): each run's name and path; ``path`` is the first's."""


def path_from_table(table: pd.DataFrame, total_captured: float) -> PathProjection:
    """The stored path table's snapshots (at most a few hundred) as a :class:`PathProjection`."""
    columns = ["alpha", "beta"] if "beta" in table.columns else ["alpha"]
    return PathProjection(
        coords=table[columns].to_numpy(dtype=float),
        steps=table["step"].to_numpy(dtype=np.int64),
        captured=table["captured"].to_numpy(dtype=float),
        total_captured=total_captured,
        residual_norms=table["residual_norm"].to_numpy(dtype=float),
    )


def load_landscape(run_dir: RunDir) -> LandscapeResult:
    """A finished landscape study, read back from its files (nothing is evaluated)."""
    grid = LandscapeGrid.from_netcdf_bytes((run_dir.path / GRID_FILE).read_bytes())
    directions = Directions.load(run_dir.path / DIRECTIONS_FILE)
    summary = run_dir.read_table("summary").iloc[0]
    coords = [summary[f"gradient_{axis}"] for axis in ("alpha", "beta")[: grid.dims]]
    gradient = PlaneGradient(np.asarray(coords, dtype=float), float(summary["gradient_captured"]),
                             float(summary["gradient_norm"]))  # fmt: skip
    table = run_dir.read_table("path") if (run_dir.path / "path.parquet").is_file() else None
    runs: tuple[tuple[str, PathProjection], ...] = ()
    if table is not None and "run" in table.columns:
        runs = tuple(
            (str(name), path_from_table(rows.reset_index(drop=True), float(summary[f"captured_{name}"])))
            for name, rows in table.groupby("run", sort=False)
        )
    first = table if table is None or not runs else table[table["run"] == runs[0][0]].reset_index(drop=True)
    projection = None if first is None else path_from_table(first, float(summary["path_captured"]))
    return LandscapeResult(grid, directions, run_dir, projection, table, gradient, runs)


def joint_contour(
    grid: LandscapeGrid,
    runs: tuple[tuple[str, PathProjection], ...],
    gradient: PlaneGradient | None = None,
    title: str = "",
    limits: tuple[Limits, Limits] = (None, None),
) -> Figure:
    """The loss contour of one plane with every run's path on it, one colour, line and marker each.

    A run's legend entry gives its name and the share of its motion the plane captures; its
    start is a hollow circle and its end an X in the run's colour.
    """
    arrays = plane_arrays(grid)
    figure = Figure(figsize=(8.0, 6.5), layout="constrained")
    axes = figure.add_subplot()
    filled, _, _ = draw_plane(
        axes, "contour", arrays, plane_levels(arrays[2], None), None, gradient, limits=limits
    )
    label_colorbar(figure.colorbar(filled, ax=axes, label="loss"))
    outline = [withStroke(linewidth=2.8, foreground="black")]
    for index, (name, path) in enumerate(runs):
        colour, linestyle, marker = line_style_for(index)
        coords = np.asarray(path.coords, dtype=float)
        label = f"{name} (plane captures {100 * path.total_captured:.1f}%)"
        axes.plot(coords[:, 0], coords[:, 1], linestyle=linestyle, marker=marker, color=colour, label=label,
                  markevery=max(1, len(coords) // 8), markersize=5, linewidth=1.6, path_effects=outline,
                  gid=f"path-{index}", zorder=4)  # fmt: skip
        axes.plot(*coords[0], "o", markerfacecolor="none", markeredgecolor=colour, markersize=9, zorder=5)
        axes.plot(*coords[-1], "X", color=colour, markeredgecolor="black", markersize=9, zorder=5)
    axes.plot([], [], "o", markerfacecolor="none", markeredgecolor="black", label="start")
    axes.plot([], [], "X", color="grey", markeredgecolor="black", label="end")
    legend_below(figure, axes)
    axes.set_title(describe(grid, title, arrays[2]), fontsize=10)
    return figure


def drawn_path(result: LandscapeResult) -> PathProjection | None:
    """The path as drawn: the snapshots of the stored path table (at most a few hundred)."""
    return result.path if result.path_table is not None else None


def render_landscape(run_dir: RunDir, style: Style) -> None:
    """Draw a stored landscape study with ``style`` (the landscape kind's ``render``).

    ``style.x_limits`` / ``style.y_limits`` set the alpha / beta range of the plane figures.
    """
    result = load_landscape(run_dir)
    title = str(run_dir.manifest.get("title", run_dir.path.name))
    grid, gradient, dpi = result.grid, result.gradient, style.save_options()
    path = drawn_path(result)
    if grid.dims == 1:
        run_dir.save_figure(landscape_curve(grid, title=title), "landscape_curve.png", **dpi)
        return
    limits = (style.x_limits, style.y_limits)
    convexity = load_convexity(run_dir)
    if convexity is not None:
        figure = convexity_figure(grid, convexity, title=title, limits=limits)
        run_dir.save_figure(figure, "convexity.png", **dpi)
    if result.runs:
        figure = joint_contour(grid, result.runs, gradient=gradient, title=title, limits=limits)
        run_dir.save_figure(figure, "contour.png", **dpi)
        figure = landscape_heatmap(grid, metric="loss", title=title, limits=limits)
        run_dir.save_figure(figure, "heatmap.png", **dpi)
        return
    figure = landscape_contour(grid, path=path, gradient=gradient, title=title, limits=limits)
    run_dir.save_figure(figure, "contour.png", **dpi)
    figure = landscape_heatmap(grid, metric="loss", path=path, title=title, limits=limits)
    run_dir.save_figure(figure, "heatmap.png", **dpi)
    run_dir.save_figure(landscape_surface3d(grid, path=path, title=title), "surface3d.png", **dpi)
    if np.isfinite(grid.accuracy).any():
        figure = landscape_heatmap(grid, metric="accuracy", path=path, title=title, limits=limits)
        run_dir.save_figure(figure, "heatmap_accuracy.png", **dpi)
    if path is not None and result.path_table is not None:
        table = result.path_table
        figure = path_fidelity_figure(
            path, table["true_loss"].to_numpy(), table["surface_loss"].to_numpy(), title=title
        )
        run_dir.save_figure(figure, "path_fidelity.png", **dpi)
    if style.interactive:
        save_plotly(run_dir, landscape_surface_plotly(grid, path=path, title=title), "surface3d")
