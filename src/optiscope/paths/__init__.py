"""The trajectory engine: many optimizer configs x many start points on a 2-D surface."""

from __future__ import annotations

from optiscope.paths.basins import DIVERGED, UNRESOLVED, BasinMap, basin_maps, basins_frame, start_grid
from optiscope.paths.engine import EngineOptions, assemble, run, run_block
from optiscope.paths.pathset import RUN_STATUSES, PathSet

__all__ = [
    "DIVERGED",
    "RUN_STATUSES",
    "UNRESOLVED",
    "BasinMap",
    "EngineOptions",
    "PathSet",
    "assemble",
    "basin_maps",
    "basins_frame",
    "run",
    "run_block",
    "start_grid",
]
