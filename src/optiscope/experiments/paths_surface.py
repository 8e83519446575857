"""The surface a paths study runs on: its spec, with the study's own domain when it gives one.

A registered surface brings its own domain; an expression has only a default square, so a study
on an expression widens it to hold its start points. Both the compute (escape reach, start grid,
tolerance reference) and the figures read the surface through :func:`study_surface`, so they
always agree on the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from optiscope.surfaces import get as get_surface
from optiscope.surfaces.base import Surface

__all__ = ["domain_of", "outside_domain", "study_surface"]

_MARGIN = 0.1  # share of the span added around start points that widen an expression's domain


def domain_of(bounds: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(XMIN, XMAX, YMIN, YMAX)`` as a surface domain ``((XMIN, XMAX), (YMIN, YMAX))``."""
    x_min, x_max, y_min, y_max = (float(value) for value in bounds)
    return (x_min, x_max), (y_min, y_max)


def _is_expression(surface: Surface) -> bool:
    return surface.name.startswith("expr:")


def _holding(domain: Any, points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """``domain`` widened to hold ``points`` with a margin (unchanged when it already does)."""
    (x_min, x_max), (y_min, y_max) = domain
    if points.size == 0:
        return (x_min, x_max), (y_min, y_max)
    low = np.minimum([x_min, y_min], points.min(axis=0))
    high = np.maximum([x_max, y_max], points.max(axis=0))
    if np.array_equal(low, [x_min, y_min]) and np.array_equal(high, [x_max, y_max]):
        return (x_min, x_max), (y_min, y_max)
    pad = _MARGIN * (high - low)
    return (float(low[0] - pad[0]), float(high[0] + pad[0])), (
        float(low[1] - pad[1]),
        float(high[1] + pad[1]),
    )


def study_surface(spec: Mapping[str, Any]) -> Surface:
    """The surface of a paths study's spec (``surface``, optional ``domain`` and ``starts``)."""
    surface = get_surface(spec["surface"])
    if spec.get("domain") is not None:
        return surface.with_options(domain=domain_of(spec["domain"]))
    starts = np.asarray(spec.get("starts") or [], dtype=float).reshape(-1, 2)
    if _is_expression(surface):
        return surface.with_options(domain=_holding(surface.domain, starts))
    return surface


def outside_domain(surface: Surface, points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """The points (start points, known minima) that lie outside ``surface``'s domain."""
    (x_min, x_max), (y_min, y_max) = surface.domain
    return [(float(x), float(y)) for x, y in points if not (x_min <= x <= x_max and y_min <= y <= y_max)]
