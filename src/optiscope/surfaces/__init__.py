"""2-D loss surfaces: seed surfaces, classic benchmarks, regression losses, user formulas.

>>> from optiscope import surfaces
>>> surfaces.get("rosenbrock").minima
((1.0, 1.0),)
>>> noisy = surfaces.get("f4:noise=lookup,noise_seed=3")
>>> custom = surfaces.get("x**2 + 10*sin(y)")
"""

from __future__ import annotations

from optiscope.surfaces.base import Domain, Point, Surface
from optiscope.surfaces.custom import from_callable
from optiscope.surfaces.expression import from_expression
from optiscope.surfaces.noise import with_noise
from optiscope.surfaces.registry import NOISE_OPTIONS, get, list_surfaces, names, register

__all__ = [
    "NOISE_OPTIONS",
    "Domain",
    "Point",
    "Surface",
    "from_callable",
    "from_expression",
    "get",
    "list_surfaces",
    "names",
    "register",
    "with_noise",
]
