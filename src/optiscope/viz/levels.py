"""Scales that stay readable: contour levels over one decade or twelve, log-axis floors, and
colour-bar ticks whose labels never repeat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import Formatter

__all__ = [
    "DistinctFormatter",
    "contour_levels",
    "distinct_ticks",
    "floor_log_axis",
    "label_colorbar",
    "log_floor",
]

_GAP_DECADES = 3.0  # an empty span this wide under the bulk separates outliers from it
_FLOOR_MARGIN_DECADES = 1.0  # the floor lies this far below the lowest value kept
_OUTLIER_SHARE = 0.25  # values under such a span are outliers only while they are this share at most


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


def log_floor(values: np.ndarray, gap_decades: float = _GAP_DECADES) -> float:
    """The lowest value a log axis of ``values`` should show.

    One run that reaches 1e-28 (Lion on Rosenbrock, exactly at the minimum) would otherwise push
    the axis down 25 decades and squash every other curve into its top rows. Values that lie
    below an empty span of more than ``gap_decades`` decades, and are at most a quarter of all
    values, are such outliers: the floor is then one decade below the lowest value above that
    span. Otherwise it is the smallest value, so a run converging smoothly to 1e-16 keeps its
    tail, and a diverging run's few early points are not cut off under its huge later ones.

    Returns:
        The floor, or NaN when no value is finite and positive.
    """
    data = np.asarray(values, dtype=float).ravel()
    logs = np.sort(np.log10(data[np.isfinite(data) & (data > 0)]))
    if logs.size == 0:
        return float("nan")
    below = np.arange(1, logs.size)  # how many values lie under each span between neighbours
    gaps = np.flatnonzero((np.diff(logs) > gap_decades) & (below <= _OUTLIER_SHARE * logs.size))
    if not gaps.size:
        return float(10.0 ** logs[0])
    return float(10.0 ** (logs[gaps[-1] + 1] - _FLOOR_MARGIN_DECADES))


def floor_log_axis(axes: Axes, values: np.ndarray, gap_decades: float = _GAP_DECADES) -> str:
    """Raise the bottom of ``axes``' log y-axis to :func:`log_floor` when outliers lie below it.

    The points below are not drawn (they fall under the axis); a note in the lower left corner
    (gid ``log-floor-note``) says how many there are and how low they go.

    Returns:
        The note, or ``""`` when nothing lies below the floor (the axis is then left alone).
    """
    data = np.asarray(values, dtype=float).ravel()
    positive = data[np.isfinite(data) & (data > 0)]
    floor = log_floor(positive, gap_decades)
    below = int((positive < floor).sum()) if np.isfinite(floor) else 0
    if not below:
        return ""
    axes.set_ylim(bottom=floor)
    note = (
        f"axis floored at {floor:.2g}: {below} of {positive.size} values lie below,\n"
        f"down to {float(positive.min()):.2g}, over {gap_decades:g} decades under the rest"
    )
    box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2}
    axes.text(
        0.01, 0.01, note, transform=axes.transAxes, fontsize=7, va="bottom", bbox=box, gid="log-floor-note"
    )
    return note


def _labels(values: np.ndarray, digits: int) -> list[str]:
    """``digits`` significant digits; scientific notation when tiny or huge (as ``format_loss``)."""
    return [
        f"{value:.{digits}g}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.{max(digits - 1, 1)}e}"
        for value in values
    ]


def distinct_ticks(values: np.ndarray, max_digits: int = 7) -> tuple[np.ndarray, list[str]]:
    """Tick positions and labels in which no label repeats.

    Uses the fewest significant digits (3 to ``max_digits``) that tell every tick apart; when even
    ``max_digits`` cannot (ticks bunched at the bottom of log-spaced levels), drops the ticks
    whose label equals the previous kept one.

    Returns:
        ``(kept tick positions, their labels)``.
    """
    ticks = np.asarray(values, dtype=float)
    for digits in range(3, max_digits + 1):
        labels = _labels(ticks, digits)
        if len(set(labels)) == len(labels):
            return ticks, labels
    kept, labels = [], []
    for tick, label in zip(ticks, _labels(ticks, max_digits), strict=True):
        if label not in labels:
            kept.append(tick)
            labels.append(label)
    return np.asarray(kept), labels


class DistinctFormatter(Formatter):
    """Tick labels from :func:`distinct_ticks`: no label printed twice, no offset text; a tick
    that still collides at ``max_digits`` is left unlabelled."""

    def __init__(self, max_digits: int = 7) -> None:
        self.max_digits = max_digits

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _labels(np.array([x]), 3)[0]

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        kept, labels = distinct_ticks(np.asarray(values, dtype=float), self.max_digits)
        lookup = dict(zip(kept.tolist(), labels, strict=True))
        return [lookup.get(float(value), "") for value in values]


def label_colorbar(colorbar: Any, max_digits: int = 7) -> None:
    """Label ``colorbar``'s ticks with a :class:`DistinctFormatter` (no value printed twice)."""
    colorbar.formatter = DistinctFormatter(max_digits)
