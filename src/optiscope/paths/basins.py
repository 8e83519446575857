"""Basin maps: from a grid of start points, where does each run end, and how fast?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optiscope.errors import SpecError
from optiscope.paths.pathset import PathSet
from optiscope.surfaces import Surface

__all__ = ["DIVERGED", "UNRESOLVED", "BasinMap", "basin_maps", "basins_frame", "start_grid"]

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


def basin_maps(
    paths: PathSet, surface: Surface, xs: np.ndarray, ys: np.ndarray, radius: float | None = None
) -> list[BasinMap]:
    """Label each run of a grid-start ``PathSet`` by the minimum it reached.

    Args:
        paths: runs made from ``start_grid(surface, n)`` starts (config-major).
        surface: the surface, for its known minima and domain.
        xs, ys: the grid axes returned by :func:`start_grid`.
        radius: distance to a minimum that counts as reaching it; default 2% of the domain's
            diagonal.
    """
    if paths.n_starts != len(xs) * len(ys):
        raise SpecError(f"{paths.n_starts} starts do not form a {len(ys)} x {len(xs)} grid")
    (x_min, x_max), (y_min, y_max) = surface.domain
    if radius is None:
        radius = 0.02 * float(np.hypot(x_max - x_min, y_max - y_min))
    minima = np.asarray(surface.minima, dtype=np.float64).reshape(-1, 2)
    finals = paths.final_points
    maps = []
    for config, label in enumerate(paths.labels):
        runs = slice(config * paths.n_starts, (config + 1) * paths.n_starts)
        final = finals[runs]
        basin = np.full(len(final), UNRESOLVED, dtype=np.int64)
        if len(minima):
            distances = np.linalg.norm(final[:, None, :] - minima[None, :, :], axis=-1)
            nearest = np.nanargmin(np.where(np.isnan(distances), np.inf, distances), axis=1)
            reached = distances[np.arange(len(final)), nearest] <= radius
            basin[reached] = nearest[reached]
        status = np.asarray(paths.status[runs])
        basin[status == "diverged"] = DIVERGED
        maps.append(
            BasinMap(
                label=label,
                xs=np.asarray(xs),
                ys=np.asarray(ys),
                basin=basin.reshape(len(ys), len(xs)),
                steps=paths.n_steps[runs].reshape(len(ys), len(xs)),
                minima=minima,
                radius=radius,
            )
        )
    return maps


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
