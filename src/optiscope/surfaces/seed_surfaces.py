"""The surfaces of the seed write-ups: ``f0``..``f5`` (seed 004) and ``pathological`` (seed 002).

Seed 004 defines six surfaces on ``[-10, 10]^2`` plus grid noise ``r_coeff * r + c_coeff * c``
(see :mod:`optiscope.surfaces.noise`); here they are the smooth parts, and
``get("f0", noise="lookup")`` restores the seed's noisy loss with the coefficients of
:data:`SEED_NOISE_COEFFICIENTS`. Views and z-limits are those of the seed's final figures.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from optiscope.surfaces.base import Surface

__all__ = ["SEED_NOISE_COEFFICIENTS", "f0", "f1", "f2", "f3", "f4", "f5", "pathological"]

SEED_NOISE_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "f0": (0.04, 0.01),
    "f1": (0.01, 0.01),
    "f2": (0.01, 0.01),
    "f3": (0.05, 0.01),
    "f4": (0.05, 0.01),
    "f5": (0.04, 0.01),
}
"""``(r_coeff, c_coeff)``: weights of the coarse and fine noise of each seed-004 surface."""

_SEED_DOMAIN = ((-10.0, 10.0), (-10.0, 10.0))
_SEED_NOTE = " (seed 004; noise='lookup' adds its grid noise)"


def _f0(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x / 10) ** 2 + (y / 10) ** 2


def _f1(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x**2 + y**2 + 0.5 * y + 0.06 * (x + 1) ** 3 + 0.1 * (y - 1) ** 3) / 400


def _f2(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x**2 / 2 - y**2 / 2) / 40


def _f3(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x**2 / 2 - y**2 / 2 - 1.5 * x * (0.5 * y)) / 60


def _f4(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return ((-(x / 5).sin() - (y / 10).cos()) + 2) / 2


def _f5(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return ((x / 8) ** 2 + (y / 12) ** 2) / 2


def f0() -> Surface:
    """Seed 004's quadratic bowl; minimum 0 at the origin."""
    return Surface(
        name="f0",
        function=_f0,
        domain=_SEED_DOMAIN,
        start=(9.0, 9.0),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        formula="(x/10)^2 + (y/10)^2",
        description="A round quadratic bowl" + _SEED_NOTE + ".",
        view=(50.0, -70.0),
        zlim=(0.0, 1.5),
    )


def f1() -> Surface:
    """Seed 004's cubic surface: a local minimum and a plateau; unbounded below off the box.

    The local minimum solves ``0.18 x^2 + 2.36 x + 0.18 = 0`` and ``0.3 y^2 + 1.4 y + 0.8 = 0``:
    ``(x, y) = ((sqrt(5.44) - 2.36) / 0.36, -2/3) ~ (-0.0767, -0.6667)`` with loss ``-7.47e-4``.
    The cubic terms make the loss fall below it near ``y = -10``, so there is no global minimum.
    """
    local_minimum = ((math.sqrt(2.36**2 - 4 * 0.18**2) - 2.36) / 0.36, -2.0 / 3.0)
    return Surface(
        name="f1",
        function=_f1,
        domain=_SEED_DOMAIN,
        start=(9.0, 9.0),
        minima=(local_minimum,),
        formula="(x^2 + y^2 + 0.5y + 0.06(x+1)^3 + 0.1(y-1)^3) / 400",
        description="A cubic surface with a plateau and a local minimum near (-0.077, -0.667); "
        "it is unbounded below, so that minimum is not global" + _SEED_NOTE + ".",
        view=(20.0, -70.0),
        zlim=(0.0, 1.0),
    )


def f2() -> Surface:
    """Seed 004's saddle ``(x^2/2 - y^2/2) / 40``: no minimum."""
    return Surface(
        name="f2",
        function=_f2,
        domain=_SEED_DOMAIN,
        start=(7.5, -0.5),
        formula="(x^2/2 - y^2/2) / 40",
        description="A saddle point at the origin, no minimum in the domain" + _SEED_NOTE + ".",
        view=(30.0, -70.0),
        zlim=(-1.0, 1.0),
    )


def f3() -> Surface:
    """Seed 004's rotated saddle ``(x^2/2 - y^2/2 - 0.75 x y) / 60``: no minimum."""
    return Surface(
        name="f3",
        function=_f3,
        domain=_SEED_DOMAIN,
        start=(-9.0, 2.5),
        starts=((-9.0, -2.5),),
        formula="(x^2/2 - y^2/2 - 1.5x(0.5y)) / 60",
        description="A saddle with tilted axes, no minimum in the domain; the seed's final "
        "figures start at (-9, -2.5)" + _SEED_NOTE + ".",
        view=(20.0, -70.0),
        zlim=(-1.4, 1.4),
    )


def f4() -> Surface:
    """Seed 004's ramp: minimum 0 at ``(5 pi / 2, 0)``, where ``sin(x/5) = cos(y/10) = 1``."""
    return Surface(
        name="f4",
        function=_f4,
        domain=_SEED_DOMAIN,
        start=(-7.5, -1.0),
        minima=((2.5 * math.pi, 0.0),),
        minimum_value=0.0,
        formula="(2 - sin(x/5) - cos(y/10)) / 2",
        description="A gentle sinusoidal ramp with its minimum at (5 pi/2, 0)" + _SEED_NOTE + ".",
        view=(20.0, -70.0),
        zlim=(-0.2, 1.3),
    )


def f5() -> Surface:
    """Seed 004's elliptic bowl ``((x/8)^2 + (y/12)^2) / 2``; minimum 0 at the origin."""
    return Surface(
        name="f5",
        function=_f5,
        domain=_SEED_DOMAIN,
        start=(9.0, 9.0),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        formula="((x/8)^2 + (y/12)^2) / 2",
        description="An elliptic bowl with unequal axis curvatures" + _SEED_NOTE + ".",
        view=(20.0, -100.0),
        zlim=(-1.5, 1.3),
    )


def _pathological(points: Tensor) -> Tensor:
    w1, w2 = points[..., 0], points[..., 1]
    return torch.tanh(w1) ** 2 + 0.01 * w1.abs() + torch.sigmoid(w2)


def pathological() -> Surface:
    """Seed 002's pathological curvature ``tanh(w1)^2 + 0.01|w1| + sigmoid(w2)``.

    The infimum 0 is approached as ``w1 = 0, w2 -> -inf`` and never attained, so there is no
    minimum; the kink of ``|w1|`` at ``w1 = 0`` makes it non-smooth there.
    """
    return Surface(
        name="pathological",
        function=_pathological,
        domain=((-8.0, 8.0), (-8.0, 8.0)),
        start=(7.0, 7.0),
        axis_names=("w1", "w2"),
        formula="tanh(w1)^2 + 0.01|w1| + sigmoid(w2)",
        description="Saturated tanh and sigmoid make both gradients tiny at the start (7, 7); "
        "the infimum 0 lies at w1 = 0, w2 -> -inf (seed 002).",
    )
