"""Basin maps: from a grid of start points, where does each run end, and how fast?"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optiscope.errors import SpecError
from optiscope.paths.pathset import PathSet
from optiscope.surfaces import Surface

__all__ = [
    "DIVERGED",
    "UNRESOLVED",
    "BasinMap",
    "basin_map",
    "basin_maps",
    "basin_maps_from_frame",
    "basins_frame",
    "spread_starts",
    "start_grid",
]

UNRESOLVED = -1
"""Basin label of a run that ended away from every known minimum (or had none to reach)."""
DIVERGED = -2
"""Basin label of a run that diverged."""

_MAX_RESOLUTION = 1000


def start_grid(surface: Surface, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start points on a ``resolution x resolution`` grid over the surface's domain.

    Returns:
        ``(xs, ys, starts)`` with ``starts`` of shape ``(resolution**2, 2)`` in row-major order
        over ``(y, x)``, so ``starts.reshape(resolution, resolution, 2)[i, j] == (xs[j], ys[i])``.
    """
    if not isinstance(resolution, int) or not 2 <= resolution <= _MAX_RESOLUTION:
        raise SpecError(f"a start grid needs 2 to {_MAX_RESOLUTION} points per axis, got {resolution!r}")
    (x_min, x_max), (y_min, y_max) = surface.domain
    xs = np.linspace(x_min, x_max, resolution)
    ys = np.linspace(y_min, y_max, resolution)
    mesh_x, mesh_y = np.meshgrid(xs, ys)
    return xs, ys, np.stack([mesh_x.ravel(), mesh_y.ravel()], axis=1)


def spread_starts(n_starts: int, count: int, *, grid: int | None = None) -> np.ndarray:
    """Indices of at most ``count`` of ``n_starts`` starts, spread evenly over them.

    Over a ``grid x grid`` start grid (see :func:`start_grid`) the indices form a sub-grid evenly
    spaced along both axes, ``floor(sqrt(count))`` rows by ``count // rows`` columns (64 -> 8 x 8),
    so the sample covers the whole domain; over a list of starts they are evenly spaced along it.
    Both ends are included; the indices are sorted and distinct.

    Raises:
        SpecError: ``count`` is not positive, or ``grid * grid != n_starts``.
    """
    if count < 1:
        raise SpecError(f"a sample needs at least one start, got {count}")
    if grid is None:
        return np.unique(np.linspace(0, n_starts - 1, min(count, n_starts)).round().astype(np.int64))
    if grid * grid != n_starts:
        raise SpecError(f"{n_starts} starts do not form a {grid} x {grid} grid")
    rows = min(math.isqrt(count), grid)
    columns = min(count // rows, grid)
    along_y = np.unique(np.linspace(0, grid - 1, rows).round().astype(np.int64))
    along_x = np.unique(np.linspace(0, grid - 1, columns).round().astype(np.int64))
    return (along_y[:, None] * grid + along_x[None, :]).reshape(-1)


@dataclass
class BasinMap:
    """Where runs of one optimizer config from a grid of starts ended.

    Attributes:
        label: the optimizer config's label.
        xs, ys: grid coordinates, shapes ``(nx,)`` and ``(ny,)``.
        basin: index into ``minima`` of the minimum reached, ``UNRESOLVED`` or ``DIVERGED``;
            shape ``(ny, nx)``.
        steps: steps taken by each run, shape ``(ny, nx)``.
        minima: the surface's known minima, shape ``(k, 2)``.
        radius: a run counts as reaching a minimum when it ends within this distance of it.
    """

    label: str
    xs: np.ndarray
    ys: np.ndarray
    basin: np.ndarray
    steps: np.ndarray
    minima: np.ndarray
    radius: float

    def fractions(self) -> dict[str, float]:
        """Share of starts per outcome: ``minimum 0``, ..., ``unresolved``, ``diverged``."""
        total = self.basin.size
        shares = {f"minimum {k}": float((self.basin == k).sum() / total) for k in range(len(self.minima))}
        shares["unresolved"] = float((self.basin == UNRESOLVED).sum() / total)
        shares["diverged"] = float((self.basin == DIVERGED).sum() / total)
        return shares


def _default_radius(surface: Surface) -> float:
    """2% of the domain's diagonal."""
    (x_min, x_max), (y_min, y_max) = surface.domain
    return 0.02 * float(np.hypot(x_max - x_min, y_max - y_min))


def _minima(surface: Surface) -> np.ndarray:
    return np.asarray(surface.minima, dtype=np.float64).reshape(-1, 2)


def basin_map(
    label: str,
    final_points: np.ndarray,
    diverged: np.ndarray,
    steps: np.ndarray,
    surface: Surface,
    xs: np.ndarray,
    ys: np.ndarray,
    radius: float | None = None,
) -> BasinMap:
    """Label the runs of one optimizer config from a start grid by the minimum each reached.

    Only where the runs ended is needed, not their paths, so a study can label any number of runs.

    Args:
        label: the config's label.
        final_points: where each run ended, shape ``(len(ys) * len(xs), 2)``, in the order of
            :func:`start_grid`'s starts.
        diverged: whether each run diverged, shape ``(len(ys) * len(xs),)``.
        steps: steps each run took, same shape.
        surface: the surface, for its known minima and domain.
        xs, ys: the grid axes returned by :func:`start_grid`.
        radius: distance to a minimum that counts as reaching it; default 2% of the domain's
            diagonal.
    """
    final = np.asarray(final_points, dtype=np.float64).reshape(-1, 2)
    if len(final) != len(xs) * len(ys):
        raise SpecError(f"{len(final)} starts do not form a {len(ys)} x {len(xs)} grid")
    radius = _default_radius(surface) if radius is None else radius
    minima = _minima(surface)
    basin = np.full(len(final), UNRESOLVED, dtype=np.int64)
    if len(minima):
        distances = np.linalg.norm(final[:, None, :] - minima[None, :, :], axis=-1)
        nearest = np.nanargmin(np.where(np.isnan(distances), np.inf, distances), axis=1)
        reached = distances[np.arange(len(final)), nearest] <= radius
        basin[reached] = nearest[reached]
    basin[np.asarray(diverged, dtype=bool)] = DIVERGED
    return BasinMap(
        label=label,
        xs=np.asarray(xs),
        ys=np.asarray(ys),
        basin=basin.reshape(len(ys), len(xs)),
        steps=np.asarray(steps).reshape(len(ys), len(xs)),
        minima=minima,
        radius=radius,
    )


def basin_maps(
    paths: PathSet, surface: Surface, xs: np.ndarray, ys: np.ndarray, radius: float | None = None
) -> list[BasinMap]:
    """Label each run of a grid-start ``PathSet`` by the minimum it reached (see :func:`basin_map`).

    Args:
        paths: runs made from ``start_grid(surface, n)`` starts (config-major).
        surface: the surface, for its known minima and domain.
        xs, ys: the grid axes returned by :func:`start_grid`.
        radius: distance to a minimum that counts as reaching it; default 2% of the domain's
            diagonal.
    """
    if paths.n_starts != len(xs) * len(ys):
        raise SpecError(f"{paths.n_starts} starts do not form a {len(ys)} x {len(xs)} grid")
    finals = paths.final_points
    status = np.asarray(paths.status)
    maps = []
    for config, label in enumerate(paths.labels):
        runs = slice(config * paths.n_starts, (config + 1) * paths.n_starts)
        diverged = status[runs] == "diverged"
        maps.append(basin_map(label, finals[runs], diverged, paths.n_steps[runs], surface, xs, ys, radius))
    return maps


def basin_maps_from_frame(
    frame: pd.DataFrame, surface: Surface, xs: np.ndarray, ys: np.ndarray
) -> list[BasinMap]:
    """The basin maps a :func:`basins_frame` table holds (its inverse, with the default radius).

    Raises:
        SpecError: the table's rows do not split into whole ``len(ys) x len(xs)`` grids.
    """
    cells = len(xs) * len(ys)
    if cells == 0 or len(frame) % cells:
        raise SpecError(f"{len(frame)} basin rows do not split into {len(ys)} x {len(xs)} grids")
    labels = frame["label"].to_numpy()
    basins = frame["basin"].to_numpy().astype(np.int64)
    steps = frame["steps"].to_numpy().astype(np.int64)
    return [
        BasinMap(
            label=str(labels[first]),
            xs=np.asarray(xs),
            ys=np.asarray(ys),
            basin=basins[first : first + cells].reshape(len(ys), len(xs)),
            steps=steps[first : first + cells].reshape(len(ys), len(xs)),
            minima=_minima(surface),
            radius=_default_radius(surface),
        )
        for first in range(0, len(frame), cells)
    ]


def basins_frame(maps: list[BasinMap]) -> pd.DataFrame:
    """One row per (config, start): the ``basins.parquet`` layout.

    Columns: ``label``, ``start_x``, ``start_y``, ``basin`` (index of the minimum reached,
    ``-1`` none, ``-2`` diverged), ``minimum_x``, ``minimum_y`` (NaN when none), ``steps``.
    """
    frames = []
    for basin_map in maps:
        mesh_x, mesh_y = np.meshgrid(basin_map.xs, basin_map.ys)
        labels = basin_map.basin.ravel()
        reached = labels >= 0
        minimum = np.full((labels.size, 2), np.nan)
        minimum[reached] = basin_map.minima[labels[reached]]
        frames.append(
            pd.DataFrame(
                {
                    "label": basin_map.label,
                    "start_x": mesh_x.ravel(),
                    "start_y": mesh_y.ravel(),
                    "basin": labels,
                    "minimum_x": minimum[:, 0],
                    "minimum_y": minimum[:, 1],
                    "steps": basin_map.steps.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
