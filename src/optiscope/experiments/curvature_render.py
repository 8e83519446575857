"""A stored curvature study: read back from its files, and drawn (density, layers, loss along
eigenvectors)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optiscope.curvature import SpectralDensity, Spectrum
from optiscope.experiments.curvature_layers import LAYERS_TABLE, render_layers
from optiscope.experiments.curvature_operators import COMPARISON_TABLE
from optiscope.experiments.protocol import Style
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.grid import LandscapeGrid
from optiscope.store import RunDir
from optiscope.store.units import decode_unit
from optiscope.viz.curvature_figures import density_figure
from optiscope.viz.landscape_figures import landscape_curve, landscape_heatmap, landscape_surface3d
from optiscope.viz.landscape_interactive import landscape_surface_plotly
from optiscope.viz.plotly_files import save_plotly

__all__ = ["DENSITY_FILE", "EIGENVECTORS_FILE", "CurvatureResult", "load_curvature", "render_curvature"]

EIGENVECTORS_FILE = "eigenvectors.safetensors"
DENSITY_FILE = "density.npz"
_OPERATOR_NAMES = {
    "hessian": "Hessian",
    "ggn": "GGN",
    "fisher": "Fisher",
    "empirical-fisher": "empirical Fisher",
}


@dataclass
class CurvatureResult:
    """What a curvature study measured."""

    spectrum: Spectrum
    run_dir: RunDir
    trace: dict[str, Any] | None = None
    density: SpectralDensity | None = None
    layers: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    along_line: pd.DataFrame | None = None
    along_plane: LandscapeGrid | None = None


def load_curvature(run_dir: RunDir) -> CurvatureResult:
    """A finished curvature study read back from its files (the top two eigenvectors are kept)."""
    folder = run_dir.path
    table = run_dir.read_table("spectrum")
    directions = Directions.load(folder / EIGENVECTORS_FILE)
    vectors = np.stack([directions.flat(i).double().numpy() for i in range(directions.dims)], axis=1)
    spectrum = Spectrum(
        table["eigenvalue"].to_numpy(), vectors, table["residual"].to_numpy(), str(table["method"].iloc[0]),
        int(table["hvps"].iloc[0]), float(table["seconds"].iloc[0]), float(run_dir.spec.get("tol", 0.0)),
    )  # fmt: skip
    result = CurvatureResult(spectrum, run_dir)
    if (folder / "trace.parquet").is_file():
        result.trace = run_dir.read_table("trace").iloc[0].to_dict()
    if (folder / DENSITY_FILE).is_file():
        result.density = SpectralDensity.from_arrays(*decode_unit(folder / DENSITY_FILE))
    if (folder / f"{LAYERS_TABLE}.parquet").is_file():
        result.layers = run_dir.read_table(LAYERS_TABLE)
    if (folder / f"{COMPARISON_TABLE}.parquet").is_file():
        result.comparison = run_dir.read_table(COMPARISON_TABLE)
    if (folder / "along_top1.parquet").is_file():
        result.along_line = run_dir.read_table("along_top1")
    if (folder / "along_top2.nc").is_file():
        result.along_plane = LandscapeGrid.from_netcdf_bytes((folder / "along_top2.nc").read_bytes())
    return result


def render_curvature(run_dir: RunDir, style: Style) -> None:
    """Draw a stored curvature study with ``style`` (the curvature kind's ``render``)."""
    result = load_curvature(run_dir)
    title, dpi = str(run_dir.manifest.get("title", run_dir.path.name)), style.save_options()
    if result.density is not None:
        run_dir.save_figure(density_figure(result.density), "density.png", **dpi)
    render_layers(run_dir, title, dpi)
    line = result.along_line
    operator = str(run_dir.spec.get("operator", "hessian"))
    measured = "hessian" if operator == "all" else operator  # "all" stores the Hessian's eigenvectors
    if line is not None:
        lam = float(result.spectrum.values[0])
        grid = LandscapeGrid(
            line["e"].to_numpy(),
            None,
            line["loss"].to_numpy(),
            line["accuracy"].to_numpy(),
            {"directions_kind": measured, "data": run_dir.spec.get("data", "?")},
        )
        figure = landscape_curve(
            grid,
            title=f"{title}: along v1 (lambda1 = {lam:.4g})",
            quadratic=line["quadratic"].to_numpy(),
            label=f"loss of {Path(str(run_dir.spec.get('run', run_dir.path.name))).name}",
            xlabel=f"step along the top {_OPERATOR_NAMES[measured]} eigenvector (alpha)",
        )
        run_dir.save_figure(figure, "along_top1.png", **dpi)
    plane = result.along_plane
    if plane is not None:
        plane_title = f"{title}: along v1, v2"
        run_dir.save_figure(landscape_heatmap(plane, title=plane_title), "along_top2_heatmap.png", **dpi)
        run_dir.save_figure(landscape_surface3d(plane, title=plane_title), "along_top2_3d.png", **dpi)
        if style.interactive:
            save_plotly(run_dir, landscape_surface_plotly(plane, title=plane_title), "along_top2")
