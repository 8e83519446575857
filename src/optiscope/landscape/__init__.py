"""Loss landscapes of trained networks: directions, grid evaluation, the path on the plane."""

from __future__ import annotations

from optiscope.landscape.directions_base import Directions, LandscapeError

__all__ = ["Directions", "LandscapeError"]
