"""User surfaces from any Python callable of 2-D points."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from optiscope.errors import SpecError
from optiscope.surfaces._validation import as_domain, as_float, as_point, default_start
from optiscope.surfaces.base import Domain, Point, Surface

__all__ = ["from_callable"]


def from_callable(
    function: Callable[[Tensor], Tensor],
    name: str = "custom",
    domain: Domain = ((-5.0, 5.0), (-5.0, 5.0)),
    start: Point | None = None,
    minima: tuple[Point, ...] = (),
    minimum_value: float | None = None,
    formula: str = "",
    description: str = "A user-defined surface.",
) -> Surface:
    """Wrap a torch function ``(..., 2) -> (...)`` as a :class:`Surface`.

    The function is called once on three float64 points to check its output shape.

    Args:
        function: the loss; must use torch operations so that autograd works.
        name: a lower-case name for figures and manifests.
        domain: ``((x_min, x_max), (y_min, y_max))``.
        start: the start point; by default 80% of the way to the domain's upper-right corner.
        minima: known minimisers, global first.
        minimum_value: the loss at the global minimum, when known.
        formula: a readable formula for figure titles.
        description: one sentence about the surface.

    Raises:
        SpecError: not callable, a malformed domain or point, or outputs of the wrong shape.
    """
    if not callable(function):
        raise SpecError(f"from_callable needs a callable, got {type(function).__name__}")
    domain = as_domain(domain)
    start = default_start(domain) if start is None else as_point(start)
    minima = tuple(as_point(point, "minima") for point in minima)
    if minimum_value is not None:
        minimum_value = as_float(minimum_value, "minimum_value")
    probe = torch.tensor([start, domain[0], domain[1]], dtype=torch.float64)
    output = function(probe)
    if not isinstance(output, Tensor) or tuple(output.shape) != (3,):
        shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
        raise SpecError(f"surface {name!r}: function maps (3, 2) points to {shape}, expected (3,)")
    return Surface(
        name=name.lower(),
        function=function,
        domain=domain,
        start=start,
        minima=minima,
        minimum_value=minimum_value,
        formula=formula,
        description=description,
    )
