"""Classic smooth 2-D benchmarks with known minima, in their standard literature definitions.

Minima are listed global first, then the known local ones; coordinates without a closed form
were found by Newton's method in float64 (the test suite checks the gradient vanishes there).
References: Jamil & Yang, "A literature survey of benchmark functions for global optimisation
problems" (2013); Surjanovic & Bingham, the Virtual Library of Simulation Experiments.
"""

from __future__ import annotations

import math
from functools import partial

from torch import Tensor

from optiscope.surfaces._validation import as_float, format_number
from optiscope.surfaces.base import Surface

__all__ = [
    "beale",
    "booth",
    "branin",
    "goldstein_price",
    "himmelblau",
    "mccormick",
    "rosenbrock",
    "six_hump_camel",
    "styblinski_tang",
    "three_hump_camel",
]


def _rosenbrock(points: Tensor, a: float, b: float) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's banana valley ``(a - x)^2 + b (y - x^2)^2``; minimum 0 at ``(a, a^2)``.

    Raises:
        SpecError: ``a`` not finite or ``b`` not positive.
    """
    a = as_float(a, "a")
    b = as_float(b, "b", minimum=0.0, strict=True)
    domain = ((min(-2.0, a - 1.0), max(2.0, a + 1.0)), (-1.0, max(3.0, a * a + 1.0)))
    return Surface(
        name="rosenbrock",
        function=partial(_rosenbrock, a=a, b=b),
        domain=domain,
        start=(-1.2, 1.0),
        minima=((a, a * a),),
        minimum_value=0.0,
        formula=f"({format_number(a)} - x)^2 + {format_number(b)} (y - x^2)^2",
        description="A narrow curved valley: easy to find, slow to follow to its minimum.",
        view=(40.0, -110.0),
        options={"a": a, "b": b},
    )


def _beale(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale() -> Surface:
    """Beale's function; minimum 0 at ``(3, 0.5)`` between flat plains and steep walls."""
    return Surface(
        name="beale",
        function=_beale,
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        start=(1.0, 1.5),
        minima=((3.0, 0.5),),
        minimum_value=0.0,
        formula="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        description="Flat plateaus next to very steep ridges; gradient scales vary by orders.",
    )


def _booth(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def booth() -> Surface:
    """Booth's function, a tilted quadratic bowl; minimum 0 at ``(1, 3)``."""
    return Surface(
        name="booth",
        function=_booth,
        domain=((-10.0, 10.0), (-10.0, 10.0)),
        start=(-8.0, -6.0),
        minima=((1.0, 3.0),),
        minimum_value=0.0,
        formula="(x + 2y - 7)^2 + (2x + y - 5)^2",
        description="A convex quadratic with correlated axes (condition number 9).",
    )


def _himmelblau(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def himmelblau() -> Surface:
    """Himmelblau's function: four global minima of value 0."""
    return Surface(
        name="himmelblau",
        function=_himmelblau,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        start=(0.0, 0.0),
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696),
            (3.5844283403304917, -1.8481265269644034),
        ),
        minimum_value=0.0,
        formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        description="Four equal global minima: which one an optimiser reaches depends on its path.",
    )


def _three_hump_camel(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def three_hump_camel() -> Surface:
    """The three-hump camel: global minimum 0 at the origin, two local minima beside it."""
    return Surface(
        name="three_hump_camel",
        function=_three_hump_camel,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        start=(-1.5, -1.8),
        minima=(
            (0.0, 0.0),
            (-1.7475523458302888, 0.8737761729151444),
            (1.7475523458302888, -0.8737761729151444),
        ),
        minimum_value=0.0,
        formula="2x^2 - 1.05x^4 + x^6/6 + xy + y^2",
        description="One global and two local minima (value 0.2986) in a small window.",
    )


def _six_hump_camel(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def six_hump_camel() -> Surface:
    """The six-hump camel: two global minima (-1.0316) and four local minima."""
    return Surface(
        name="six_hump_camel",
        function=_six_hump_camel,
        domain=((-3.0, 3.0), (-2.0, 2.0)),
        start=(-2.0, -1.5),
        minima=(
            (0.08984201310031806, -0.7126564030207396),
            (-0.08984201310031806, 0.7126564030207396),
            (-1.7036067149699807, 0.7960835686726251),
            (1.7036067149699807, -0.7960835686726251),
            (1.6071047529201974, 0.5686514548841314),
            (-1.6071047529201974, -0.5686514548841314),
        ),
        minimum_value=-1.0316284534898774,
        formula="(4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2",
        description="Six minima, two of them global, separated by low saddles.",
    )


def _goldstein_price(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    first = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    second = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return first * second


def goldstein_price() -> Surface:
    """The Goldstein-Price function: minimum 3 at ``(0, -1)``, three local minima."""
    return Surface(
        name="goldstein_price",
        function=_goldstein_price,
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.0, 1.5),
        minima=((0.0, -1.0), (-0.6, -0.4), (1.8, 0.2), (1.2, 0.8)),
        minimum_value=3.0,
        formula="[1 + (x+y+1)^2 (19-14x+3x^2-14y+6xy+3y^2)] [30 + (2x-3y)^2 (18-32x+12x^2+48y-36xy+27y^2)]",
        description="Values span six orders of magnitude; local minima at 30, 84 and 840.",
    )


_BRANIN_B = 5.1 / (4 * math.pi**2)
_BRANIN_C = 5 / math.pi
_BRANIN_T = 1 / (8 * math.pi)


def _branin(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    valley = (y - _BRANIN_B * x**2 + _BRANIN_C * x - 6) ** 2
    return valley + 10 * (1 - _BRANIN_T) * x.cos() + 10


def _branin_valley_y(x: float) -> float:
    return _BRANIN_B * x * x - _BRANIN_C * x + 6


def branin() -> Surface:
    """The Branin-Hoo function: three global minima of value ``5 / (4 pi)``."""
    minima = tuple((x, _branin_valley_y(x)) for x in (-math.pi, math.pi, 3 * math.pi))
    return Surface(
        name="branin",
        function=_branin,
        domain=((-5.0, 10.0), (0.0, 15.0)),
        start=(6.0, 12.0),
        minima=minima,
        minimum_value=10 * _BRANIN_T,
        formula="(y - 5.1x^2/(4pi^2) + 5x/pi - 6)^2 + 10(1 - 1/(8pi)) cos x + 10",
        description="Three equal global minima along a curved valley.",
    )


_STYBLINSKI_TANG_ROOTS = (-2.903534027771177, 2.746802770990837)


def _styblinski_tang(points: Tensor) -> Tensor:
    return 0.5 * (points**4 - 16 * points**2 + 5 * points).sum(dim=-1)


def styblinski_tang() -> Surface:
    """The Styblinski-Tang function: global minimum -78.332 and three local minima."""
    low, high = _STYBLINSKI_TANG_ROOTS
    return Surface(
        name="styblinski_tang",
        function=_styblinski_tang,
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        start=(4.5, 4.5),
        minima=((low, low), (high, low), (low, high), (high, high)),
        minimum_value=-78.33233140754282,
        formula="(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y) / 2",
        description="Four basins of unequal depth; the start lies above the shallowest one.",
    )


def _mccormick(points: Tensor) -> Tensor:
    x, y = points[..., 0], points[..., 1]
    return (x + y).sin() + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


def mccormick() -> Surface:
    """McCormick's function: global minimum ``-sqrt(3)/2 - pi/3`` at ``(1/2 - pi/3, -1/2 - pi/3)``.

    Stationary points satisfy ``cos(x + y) = -1/2`` and ``x - y = 1``; the one at
    ``x + y = 4 pi / 3`` is a local minimum, the one at ``2 pi / 3`` a saddle.
    """
    third = math.pi / 3
    return Surface(
        name="mccormick",
        function=_mccormick,
        domain=((-1.5, 4.0), (-3.0, 4.0)),
        start=(-1.0, 3.5),
        minima=((0.5 - third, -0.5 - third), (0.5 + 2 * third, -0.5 + 2 * third)),
        minimum_value=-math.sqrt(3) / 2 - third,
        formula="sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1",
        description="A tilted trough with one global and one local minimum.",
    )
