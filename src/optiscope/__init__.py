"""optiscope: see and measure how optimization algorithms behave."""

from __future__ import annotations

from optiscope.errors import OptiscopeError

__version__ = "0.1.0"

__all__ = ["OptiscopeError", "__version__"]
