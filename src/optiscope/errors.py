"""The one exception hierarchy of optiscope.

Every error a user can cause (a malformed spec, an unknown name, a bad value, a missing file)
is an :class:`OptiscopeError`; the CLI prints its message as one line and exits with code 2.
Anything else is a bug and exits with code 1.
"""

from __future__ import annotations

__all__ = [
    "ExpressionError",
    "HyperparameterError",
    "IncompatibleOptimizerError",
    "OptiscopeError",
    "SpecError",
    "StoreError",
    "UnknownNameError",
]


class OptiscopeError(Exception):
    """Base class for every error caused by user input or environment, not by a bug."""


class SpecError(OptiscopeError, ValueError):
    """A spec string, YAML document or argument is malformed or out of range."""


class UnknownNameError(SpecError):
    """A name (optimizer, surface, ...) is not registered; the message lists close matches."""


class HyperparameterError(SpecError):
    """A hyperparameter is unknown to its optimizer, of the wrong type, or not finite."""


class ExpressionError(SpecError):
    """A user expression uses a name or operator outside the whitelist, or does not parse."""


class IncompatibleOptimizerError(OptiscopeError):
    """An optimizer cannot run on this problem (e.g. a matrix-only optimizer on 2-D points)."""


class StoreError(OptiscopeError):
    """A run directory cannot be written, read, or holds a different run."""
