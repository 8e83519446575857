"""The window a path figure shows, and each path cut to it: nothing leaves the frame silently.

The window holds the surface's domain and every drawn path, with a small margin, but grows to at
most ``max_growth`` times the domain's span per axis, so one runaway does not shrink the picture
to a dot. A path that still ends outside is cut at the border (:func:`clip_track`), where the
figure puts an exit marker and the step it left at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ClippedTrack", "Window", "clip_segments", "clip_track", "fit_window", "inside_window"]

Window = tuple[tuple[float, float], tuple[float, float]]
"""``((x_min, x_max), (y_min, y_max))``, the same layout as a surface's domain."""


def _fit_axis(
    low: float, high: float, values: np.ndarray, margin: float, max_growth: float
) -> tuple[float, float]:
    """``[low, high]`` grown to hold ``values`` plus a margin, by at most ``(max_growth - 1)`` spans.

    When both sides need more than their share, each gets half; when one needs less, the other
    gets the rest (a path that runs off one side only may use the whole allowance).
    """
    span = high - low
    if values.size == 0 or (values.min() >= low and values.max() <= high):
        return low, high
    need_low = low - values.min() + margin * span if values.min() < low else 0.0
    need_high = values.max() - high + margin * span if values.max() > high else 0.0
    budget = (max_growth - 1.0) * span
    if need_low <= need_high:
        grow_low = min(need_low, budget / 2)
        grow_high = min(need_high, budget - grow_low)
    else:
        grow_high = min(need_high, budget / 2)
        grow_low = min(need_low, budget - grow_high)
    return low - grow_low, high + grow_high


def fit_window(
    domain: Window,
    points: np.ndarray,
    *,
    x_limits: tuple[float, float] | None = None,
    y_limits: tuple[float, float] | None = None,
    margin: float = 0.05,
    max_growth: float = 4.0,
) -> Window:
    """The window that holds ``domain`` and the finite ``points``, each axis capped in growth.

    Args:
        domain: the surface's domain, ``((x_min, x_max), (y_min, y_max))``.
        points: positions of the drawn paths, shape ``(..., 2)``; NaN and infinite ones are ignored.
        x_limits, y_limits: a fixed range for that axis (a figure option); None fits it.
        margin: share of the domain's span added beyond the farthest path point.
        max_growth: the most an axis may span, as a multiple of the domain's span.
    """
    flat = np.asarray(points, dtype=float).reshape(-1, 2)
    flat = flat[np.isfinite(flat).all(axis=1)]
    window = []
    for axis, limits in enumerate((x_limits, y_limits)):
        if limits is not None:
            window.append((float(limits[0]), float(limits[1])))
            continue
        low, high = (float(bound) for bound in domain[axis])
        window.append(_fit_axis(low, high, flat[:, axis], margin, max_growth))
    return window[0], window[1]


def inside_window(points: np.ndarray, window: Window) -> np.ndarray:
    """Whether each position ``(..., 2)`` lies in ``window`` (borders included; NaN: no)."""
    (x_min, x_max), (y_min, y_max) = window
    x, y = points[..., 0], points[..., 1]
    return (x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)


@dataclass(frozen=True)
class ClippedTrack:
    """One run's path cut to a window.

    Attributes:
        line: the visible pieces, shape ``(k, 2)``, separated by NaN rows (``k = 0``: nothing
            visible).
        last_step: the last step with a finite position (-1: none).
        end: that position when it lies in the window (the end marker), else None.
        exit_point: where the path last crossed the border outwards, when it ends outside the
            window (the exit marker); the final position clamped to the border when it never was
            inside.
        exit_step: the first step of the path's final stretch outside the window, else None.
    """

    line: np.ndarray
    last_step: int
    end: np.ndarray | None
    exit_point: np.ndarray | None
    exit_step: int | None


def clip_segments(
    starts: np.ndarray, ends: np.ndarray, window: Window
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Liang-Barsky clipping of the segments ``starts[i] -> ends[i]`` (each ``(n, 2)``) to ``window``.

    Works on each segment divided by its largest coordinate, so positions near the float limit
    (a diverging run) neither overflow nor lose the segment's direction.

    Returns:
        ``(visible, t_in, t_out, clipped_starts, clipped_ends)``: the part of segment ``i`` that
        lies in the window runs from ``t_in[i]`` to ``t_out[i]`` along it.
    """
    low = np.array([window[0][0], window[1][0]])
    high = np.array([window[0][1], window[1][1]])
    bound = float(np.abs(np.concatenate([low, high])).max())
    scale = np.maximum(np.abs(np.concatenate([starts, ends], axis=1)).max(axis=1), max(bound, 1.0))[:, None]
    a, b = starts / scale, ends / scale
    lo, hi, delta = low / scale, high / scale, b - a
    t_in, t_out = np.zeros(len(a)), np.ones(len(a))
    visible = np.ones(len(a), dtype=bool)
    for axis in (0, 1):
        step = delta[:, axis]
        flat = step == 0
        visible &= ~flat | ((a[:, axis] >= lo[:, axis]) & (a[:, axis] <= hi[:, axis]))
        with np.errstate(divide="ignore", invalid="ignore"):
            t_lo = (lo[:, axis] - a[:, axis]) / step
            t_hi = (hi[:, axis] - a[:, axis]) / step
        t_in = np.maximum(t_in, np.where(flat, 0.0, np.minimum(t_lo, t_hi)))
        t_out = np.minimum(t_out, np.where(flat, 1.0, np.maximum(t_lo, t_hi)))
    visible &= t_in <= t_out
    clipped_starts = (a + t_in[:, None] * delta) * scale
    clipped_ends = (a + t_out[:, None] * delta) * scale
    return visible, t_in, t_out, clipped_starts, clipped_ends


def clip_track(track: np.ndarray, window: Window) -> ClippedTrack:
    """Cut one run's positions ``(steps + 1, 2)`` to ``window``.

    Only the finite prefix counts: a run that diverged has NaN from the step it blew up.
    """
    finite = np.isfinite(track).all(axis=1)
    count = len(track) if finite.all() else int(np.argmin(finite))
    kept = np.asarray(track[:count], dtype=float)
    if count == 0:
        return ClippedTrack(np.empty((0, 2)), -1, None, None, None)
    inside = inside_window(kept, window)
    if count == 1:
        line = kept if inside[0] else np.empty((0, 2))
        return _finish(kept, inside, line, None, window)
    visible, t_in, t_out, starts, ends = clip_segments(kept[:-1], kept[1:], window)
    joined = np.zeros(len(visible), dtype=bool)
    joined[1:] = visible[:-1] & (t_out[:-1] >= 1.0) & (t_in[1:] <= 0.0)
    rows = np.stack([np.full_like(starts, np.nan), starts, ends], axis=1)
    new_piece = visible & ~joined
    line = rows[np.stack([new_piece, new_piece, visible], axis=1)]
    if len(line):
        line = line[1:]  # no separator before the first piece
    return _finish(kept, inside, line, ends, window)


def _finish(
    kept: np.ndarray, inside: np.ndarray, line: np.ndarray, segment_ends: np.ndarray | None, window: Window
) -> ClippedTrack:
    last = len(kept) - 1
    if inside[-1]:
        return ClippedTrack(line, last, kept[-1].copy(), None, None)
    was_inside = np.flatnonzero(inside)
    if was_inside.size and segment_ends is not None:
        left_at = int(was_inside[-1]) + 1
        return ClippedTrack(line, last, None, segment_ends[left_at - 1].copy(), left_at)
    (x_min, x_max), (y_min, y_max) = window
    clamped = np.array([np.clip(kept[-1, 0], x_min, x_max), np.clip(kept[-1, 1], y_min, y_max)])
    return ClippedTrack(line, last, None, clamped, 0)
