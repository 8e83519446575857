"""Contour levels that stay readable whether a surface spans one decade or twelve."""

from __future__ import annotations

import numpy as np

__all__ = ["contour_levels"]


def contour_levels(values: np.ndarray, count: int = 30) -> np.ndarray:
    """Increasing contour levels for ``values``.

    Surfaces such as Rosenbrock span many decades above their minimum; evenly spaced levels then
    hide the valley. When the values above the minimum span more than two decades the levels are
    spaced logarithmically above the minimum, otherwise linearly.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.linspace(0.0, 1.0, count)
    low, high = float(finite.min()), float(finite.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return np.linspace(low - 0.5, high + 0.5, count)
    spread = finite - low
    positive = spread[spread > 0]
    small = float(np.percentile(positive, 1)) if positive.size else high - low
    if (high - low) / max(small, 1e-300) > 100.0:
        offsets = np.geomspace(small, high - low, count - 1)
        return np.concatenate([[low], low + offsets])
    return np.linspace(low, high, count)
