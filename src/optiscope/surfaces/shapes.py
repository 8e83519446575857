"""Geometric teaching surfaces: saddles and an ill-conditioned quadratic bowl."""

from __future__ import annotations

import math
from functools import partial

from torch import Tensor

from optiscope.surfaces._validation import as_float, format_number
from optiscope.surfaces.base import Surface

__all__ = ["ill_conditioned", "monkey_saddle", "saddle"]


def _saddle(points: Tensor) -> Tensor:
    return points[..., 0] ** 2 - points[..., 1] ** 2


def saddle() -> Surface:
    """The saddle ``x^2 - y^2``: unbounded below, no minimum; the origin is a saddle point."""
    return Surface(
        name="saddle",
        function=_saddle,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.8, 0.05),
        formula="x^2 - y^2",
        description="A saddle point at the origin and no minimum: starting near the x-axis "
        "shows how fast an optimiser escapes.",
        zlim=(-4.0, 4.0),
    )


def _monkey_saddle(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return x**3 - 3 * x * y**2


def monkey_saddle() -> Surface:
    """The monkey saddle ``x^3 - 3 x y^2``: a degenerate saddle (zero Hessian) at the origin."""
    return Surface(
        name="monkey_saddle",
        function=_monkey_saddle,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.5, 0.1),
        formula="x^3 - 3xy^2",
        description="Three valleys meet at a flat saddle with zero gradient and zero Hessian; no minimum.",
        zlim=(-8.0, 8.0),
    )


def _ill_conditioned(points: Tensor, cos_angle: float, sin_angle: float, condition: float) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    along = cos_angle * x + sin_angle * y
    across = -sin_angle * x + cos_angle * y
    return 0.5 * (along**2 + condition * across**2)


def ill_conditioned(condition: float = 10.0, angle: float = 0.0) -> Surface:
    """The quadratic ``p^T A p / 2`` with ``A = R diag(1, condition) R^T``, ``R`` a rotation.

    Args:
        condition: ratio of the largest to the smallest curvature (``> 0``).
        angle: rotation of the principal axes, in degrees (counter-clockwise).

    Raises:
        SpecError: ``condition`` not positive or ``angle`` not finite.
    """
    condition = as_float(condition, "condition", minimum=0.0, strict=True)
    angle = as_float(angle, "angle")
    radians = math.radians(angle)
    cos_angle, sin_angle = math.cos(radians), math.sin(radians)
    formula = f"(x^2 + {format_number(condition)} y^2) / 2"
    if angle % 360 != 0:
        formula = f"(u^2 + {format_number(condition)} v^2) / 2, (u, v) = (x, y) rotated by "
        formula += f"{format_number(-angle)} deg"
    return Surface(
        name="ill_conditioned",
        function=partial(_ill_conditioned, cos_angle=cos_angle, sin_angle=sin_angle, condition=condition),
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        start=(-4.0, 3.0),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        formula=formula,
        description=f"A quadratic bowl with condition number {format_number(condition)} and axes "
        f"rotated by {format_number(angle)} degrees: gradient descent zig-zags across it.",
        options={"condition": condition, "angle": angle},
    )
