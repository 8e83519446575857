"""The landscape study's convexity map (Li et al. 2018, sec. 6): one cached unit, one table.

``LandscapeConfig.convexity = N`` asks for ``|lambda_min / lambda_max|`` of the Hessian on an
``N x N`` grid of the loss grid's own plane and span (coarse: each point costs two eigenvalue
solves). It is computed as one unit of the run directory, so a resumed study does not redo it,
and stored as ``convexity.parquet``; the render draws it beside the loss contour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from optiscope.experiments.study_inputs import StudyInputs
from optiscope.landscape.convexity import ConvexityMap, convexity_map
from optiscope.landscape.directions_base import Directions
from optiscope.store import RunDir

__all__ = ["CONVEXITY_TABLE", "CONVEXITY_TOL", "convexity_from_table", "load_convexity", "store_convexity"]

CONVEXITY_TABLE = "convexity"
CONVEXITY_TOL = 1e-6
"""Relative error of each stored eigenvalue: tight enough for the table's numbers to be read as
values, not only as colours (the solves are warm-started, so it costs few extra products)."""


def _map_unit(
    inputs: StudyInputs, directions: Directions, axis: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The unit: extreme eigenvalues and products on ``axis x axis``, in float64."""
    found = convexity_map(
        inputs.model, inputs.loss_fn, inputs.data, directions, axis, axis, tol=CONVEXITY_TOL,
        dtype=torch.float64,
    )  # fmt: skip
    arrays = {"lambda_max": found.lambda_max, "lambda_min": found.lambda_min, "products": found.products}
    return arrays, {}


def store_convexity(
    run_dir: RunDir, inputs: StudyInputs, directions: Directions, span: float, points: int
) -> ConvexityMap:
    """Compute (or read back) the ``points x points`` convexity map over ``[-span, span]^2``; store its table.

    Args:
        run_dir: the landscape run directory (the map is its unit ``convexity``).
        inputs: the model at the plane's centre, its loss and data.
        directions: the plane of the loss grid.
        span: half-width of the plane, as the loss grid's.
        points: points per axis.
    """
    axis = np.linspace(-span, span, points)
    arrays, _ = run_dir.unit(CONVEXITY_TABLE, lambda: _map_unit(inputs, directions, axis))
    found = ConvexityMap(axis, axis.copy(), arrays["lambda_max"], arrays["lambda_min"], arrays["products"])
    run_dir.write_table(CONVEXITY_TABLE, _table(found))
    return found


def _table(found: ConvexityMap) -> pd.DataFrame:
    """One row a grid point, row-major over ``(alpha, beta)``."""
    alpha, beta = np.meshgrid(found.alphas, found.betas, indexing="ij")
    return pd.DataFrame(
        {
            "alpha": alpha.ravel(),
            "beta": beta.ravel(),
            "lambda_max": found.lambda_max.ravel(),
            "lambda_min": found.lambda_min.ravel(),
            "ratio": found.ratio.ravel(),
            "hvps": found.products.ravel(),
        }
    )


def convexity_from_table(table: pd.DataFrame) -> ConvexityMap:
    """The :class:`ConvexityMap` of a stored ``convexity.parquet`` (rows row-major over alpha, beta)."""
    alphas, betas = np.unique(table["alpha"].to_numpy()), np.unique(table["beta"].to_numpy())
    shape = (len(alphas), len(betas))
    ordered = table.sort_values(["alpha", "beta"], kind="stable")
    return ConvexityMap(
        alphas,
        betas,
        ordered["lambda_max"].to_numpy(dtype=float).reshape(shape),
        ordered["lambda_min"].to_numpy(dtype=float).reshape(shape),
        ordered["hvps"].to_numpy(dtype=np.int64).reshape(shape),
    )


def load_convexity(run_dir: RunDir) -> ConvexityMap | None:
    """The stored convexity map of a landscape run, or None when it was not asked for."""
    if not (run_dir.path / f"{CONVEXITY_TABLE}.parquet").is_file():
        return None
    return convexity_from_table(run_dir.read_table(CONVEXITY_TABLE))
