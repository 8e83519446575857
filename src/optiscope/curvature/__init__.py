"""Curvature of a network's loss: Hessian-vector products, top eigenpairs, trace, spectral
density, and warm-started eigen-tracking along training (seed 001); :func:`summary` gives the
common numbers in one call. The generalised Gauss-Newton and Fisher operators
(:func:`curvature_operator`) run through the same solvers."""

from __future__ import annotations

from optiscope.curvature.density import SpectralDensity, density, density_of, lanczos_tridiagonal
from optiscope.curvature.eigen import residual_norms, top_eigen, top_eigen_of
from optiscope.curvature.errors import CurvatureError
from optiscope.curvature.ggn import (
    GGN_MODES,
    OPERATORS,
    EmpiricalFisherOperator,
    FisherOperator,
    GGNOperator,
    curvature_operator,
)
from optiscope.curvature.hvp import HVP_MODES, HessianOperator, select_parameters
from optiscope.curvature.krylov import block_krylov
from optiscope.curvature.layers import DENSE_BLOCK_LIMIT, LayerCurvature, layer_curvature, layer_groups
from optiscope.curvature.overview import CurvatureSummary, density_steps_for, summary
from optiscope.curvature.power import power_iteration
from optiscope.curvature.preconditioned import PreconditionedOperator
from optiscope.curvature.probes import rademacher
from optiscope.curvature.ritz import RitzResult, ritz_lanczos
from optiscope.curvature.spectrum import Spectrum
from optiscope.curvature.trace import TraceEstimate, hutch_plus_plus, hutchinson, trace, trace_of
from optiscope.curvature.tracker import EigenTracker, TrackRecord

__all__ = [
    "DENSE_BLOCK_LIMIT",
    "GGN_MODES",
    "HVP_MODES",
    "OPERATORS",
    "CurvatureError",
    "CurvatureSummary",
    "EigenTracker",
    "EmpiricalFisherOperator",
    "FisherOperator",
    "GGNOperator",
    "HessianOperator",
    "LayerCurvature",
    "PreconditionedOperator",
    "RitzResult",
    "SpectralDensity",
    "Spectrum",
    "TraceEstimate",
    "TrackRecord",
    "block_krylov",
    "curvature_operator",
    "density",
    "density_of",
    "density_steps_for",
    "hutch_plus_plus",
    "hutchinson",
    "lanczos_tridiagonal",
    "layer_curvature",
    "layer_groups",
    "power_iteration",
    "rademacher",
    "residual_norms",
    "ritz_lanczos",
    "select_parameters",
    "summary",
    "top_eigen",
    "top_eigen_of",
    "trace",
    "trace_of",
]
