"""Hard benchmarks: many local minima (Rastrigin, Ackley), a plateau (Easom), kinks (Bukin 6).

Standard literature definitions (Jamil & Yang 2013; the Virtual Library of Simulation
Experiments). Non-smooth points get the subgradient 0 instead of NaN (see ``safe_sqrt``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from optiscope.surfaces._ops import safe_sqrt
from optiscope.surfaces.base import Surface

__all__ = ["ackley", "bukin6", "easom", "rastrigin"]

_TWO_PI = 2 * math.pi


def _rastrigin(points: Tensor) -> Tensor:
    return 20 + (points**2 - 10 * (_TWO_PI * points).cos()).sum(dim=-1)


def rastrigin() -> Surface:
    """Rastrigin's function: a bowl covered with a regular grid of local minima; minimum 0."""
    return Surface(
        name="rastrigin",
        function=_rastrigin,
        domain=((-5.12, 5.12), (-5.12, 5.12)),
        start=(-3.3, 4.1),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        formula="20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
        description="About a hundred local minima on a bowl: gradient descent stops in the first.",
        view=(45.0, -60.0),
    )


def _ackley(points: Tensor) -> Tensor:
    # vector_norm's gradient at the origin is 0 (a subgradient), where sqrt(x^2+y^2) gives NaN.
    radius = torch.linalg.vector_norm(points, dim=-1)
    ripples = 0.5 * (_TWO_PI * points).cos().sum(dim=-1)
    return -20 * torch.exp(-0.2 * math.sqrt(0.5) * radius) - ripples.exp() + math.e + 20


def ackley() -> Surface:
    """Ackley's function: a flat rippled outer region and a cone-shaped hole at the origin."""
    return Surface(
        name="ackley",
        function=_ackley,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        start=(3.5, -4.0),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        formula="-20 exp(-0.2 sqrt((x^2 + y^2)/2)) - exp((cos 2 pi x + cos 2 pi y)/2) + e + 20",
        description="Many shallow local minima around a sharp global one (a cone tip, not smooth).",
        view=(40.0, -60.0),
    )


def _easom(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return -x.cos() * y.cos() * torch.exp(-((x - math.pi) ** 2) - (y - math.pi) ** 2)


def easom() -> Surface:
    """Easom's function: a single narrow hole of depth -1 at ``(pi, pi)`` in a flat plateau."""
    return Surface(
        name="easom",
        function=_easom,
        domain=((-5.0, 10.0), (-5.0, 10.0)),
        start=(1.0, 1.5),
        minima=((math.pi, math.pi),),
        minimum_value=-1.0,
        formula="-cos x cos y exp(-(x - pi)^2 - (y - pi)^2)",
        description="A plateau with vanishing gradients around one narrow well: tests step normalisation.",
        view=(35.0, -60.0),
    )


def _bukin6(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return 100 * safe_sqrt((y - 0.01 * x**2).abs()) + 0.01 * (x + 10).abs()


def bukin6() -> Surface:
    """Bukin's function N.6: non-smooth along ``y = x^2 / 100``; minimum 0 at ``(-10, 1)``."""
    return Surface(
        name="bukin6",
        function=_bukin6,
        domain=((-15.0, -5.0), (-3.0, 3.0)),
        start=(-7.0, -2.0),
        minima=((-10.0, 1.0),),
        minimum_value=0.0,
        formula="100 sqrt(|y - 0.01x^2|) + 0.01|x + 10|",
        description="Not differentiable on the parabola y = x^2/100 (and at x = -10), along "
        "which the minimum hides: gradients jump across it.",
        view=(30.0, -60.0),
    )
