"""The error a user can cause in the curvature package."""

from __future__ import annotations

from optiscope.errors import SpecError

__all__ = ["CurvatureError"]


class CurvatureError(SpecError):
    """A curvature request is malformed: bad data, unknown parameters, an out-of-range k or tol,
    or a solver that ran out of its Hessian-vector-product budget."""
