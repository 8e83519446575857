"""The ``Surface`` contract: a differentiable torch function of 2-D points, with its metadata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

__all__ = ["Domain", "Point", "Surface"]

Point = tuple[float, float]
Domain = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Surface:
    """A loss over the plane.

    ``surface(points)`` maps a tensor of shape ``(..., 2)`` to losses of shape ``(...)``; it is
    differentiable with torch autograd and works on any device and float dtype.

    Attributes:
        name: registry name (lower case), e.g. ``"rosenbrock"``.
        function: the loss, ``(..., 2) -> (...)``.
        domain: ``((x_min, x_max), (y_min, y_max))``, the window drawn by default.
        start: the default start point.
        minima: known minimisers (global first; all known local ones after).
        formula: a human-readable formula used in figure titles.
        description: one sentence: what the surface teaches, where it comes from.
        minimum_value: the loss at the global minimum, when known.
        starts: further start points suggested by the source (seed 004 names one per surface).
        view: ``(elevation, azimuth)`` in degrees for 3-D figures.
        zlim: z-limits that keep a 3-D figure readable, or ``None`` for automatic.
        axis_names: the names of the two parameters, for axis labels (``("w1", "w2")`` for a
            network's weights, ``("theta0", "theta1")`` for a line's coefficients).
        stochastic: optional mini-batch loss ``(points, generator) -> losses``; when present the
            path engine follows its gradient (real mini-batch noise) instead of ``function``'s.
        options: the options this surface was built with (noise mode, seed, ...), for manifests.
    """

    name: str
    function: Callable[[Tensor], Tensor]
    domain: Domain
    start: Point
    minima: tuple[Point, ...] = ()
    formula: str = ""
    description: str = ""
    minimum_value: float | None = None
    starts: tuple[Point, ...] = ()
    view: tuple[float, float] = (30.0, -60.0)
    zlim: tuple[float, float] | None = None
    axis_names: tuple[str, str] = ("x", "y")
    stochastic: Callable[[Tensor, torch.Generator], Tensor] | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, points: Tensor) -> Tensor:
        """Evaluate the loss at ``points`` of shape ``(..., 2)``; returns shape ``(...)``."""
        if points.shape[-1] != 2:
            raise ValueError(
                f"surface {self.name!r} expects points of shape (..., 2), got {tuple(points.shape)}"
            )
        return self.function(points)

    def with_options(self, **changes: Any) -> Surface:
        """A copy with some fields replaced (frozen dataclasses are changed by copying)."""
        return replace(self, **changes)

    def grid(
        self, resolution: int = 200, dtype: torch.dtype = torch.float64
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Evaluate on a ``resolution x resolution`` grid over the domain.

        Returns:
            ``(xs, ys, losses)`` with ``xs`` and ``ys`` of shape ``(resolution,)`` and ``losses`` of
            shape ``(resolution, resolution)`` indexed ``[y, x]`` (matplotlib's contour order).
        """
        (x_min, x_max), (y_min, y_max) = self.domain
        xs = torch.linspace(x_min, x_max, resolution, dtype=dtype)
        ys = torch.linspace(y_min, y_max, resolution, dtype=dtype)
        mesh_y, mesh_x = torch.meshgrid(ys, xs, indexing="ij")
        with torch.no_grad():
            losses = self(torch.stack([mesh_x, mesh_y], dim=-1))
        return xs, ys, losses

    def describe(self) -> dict[str, Any]:
        """JSON-ready metadata (what ``optiscope surfaces list --json`` prints)."""
        return {
            "name": self.name,
            "formula": self.formula,
            "description": self.description,
            "domain": [list(self.domain[0]), list(self.domain[1])],
            "start": list(self.start),
            "starts": [list(point) for point in self.starts],
            "minima": [list(point) for point in self.minima],
            "minimum_value": self.minimum_value,
            "axis_names": list(self.axis_names),
            "stochastic": self.stochastic is not None,
            "options": dict(self.options),
        }
