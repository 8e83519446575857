"""Checks shared by the surface factories: options come from spec strings and need validating."""

from __future__ import annotations

import math
from typing import Any

from optiscope.errors import SpecError
from optiscope.surfaces.base import Domain, Point

__all__ = ["as_domain", "as_float", "as_int", "as_point", "default_start", "format_number"]


def as_float(value: Any, name: str, *, minimum: float | None = None, strict: bool = False) -> float:
    """Read a finite float option, optionally bounded below (``strict`` excludes the bound).

    Raises:
        SpecError: not a real number, not finite, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"option {name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SpecError(f"option {name!r} must be finite, got {value!r}")
    if minimum is not None and (number < minimum or (strict and number == minimum)):
        relation = ">" if strict else ">="
        raise SpecError(f"option {name!r} must be {relation} {minimum}, got {value!r}")
    return number


def as_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Read an integer option (a float with an integral value is accepted).

    Raises:
        SpecError: not an integer or below ``minimum``.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"option {name!r} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SpecError(f"option {name!r} must be >= {minimum}, got {value!r}")
    return value


def as_point(value: Any, name: str = "start") -> Point:
    """Read a 2-D point ``(x, y)`` of finite floats.

    Raises:
        SpecError: not a pair of finite numbers.
    """
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SpecError(f"option {name!r} must be a pair (x, y), got {value!r}")
    return (as_float(value[0], f"{name}[0]"), as_float(value[1], f"{name}[1]"))


def as_domain(value: Any) -> Domain:
    """Read ``((x_min, x_max), (y_min, y_max))`` with ``min < max`` on both axes.

    Raises:
        SpecError: malformed, not finite, or an empty interval.
    """
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SpecError(f"domain must be ((x_min, x_max), (y_min, y_max)), got {value!r}")
    axes = []
    for axis, interval in zip("xy", value, strict=True):
        low, high = as_point(interval, f"domain {axis}")
        if not low < high:
            raise SpecError(f"domain {axis}-interval must have min < max, got {interval!r}")
        axes.append((low, high))
    return (axes[0], axes[1])


def default_start(domain: Domain) -> Point:
    """A start point 80% of the way from the domain's centre towards its upper-right corner."""
    (x_min, x_max), (y_min, y_max) = domain
    return (x_min + 0.9 * (x_max - x_min), y_min + 0.9 * (y_max - y_min))


def format_number(value: float) -> str:
    """Short text for a number in a formula: ``100.0`` -> ``100``, ``0.25`` -> ``0.25``."""
    return f"{value:g}"
