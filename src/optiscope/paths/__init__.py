"""The trajectory engine: many optimizer configs x many start points on a 2-D surface."""

from __future__ import annotations

from optiscope.paths.basins import (
    DIVERGED,
    UNRESOLVED,
    BasinMap,
    basin_map,
    basin_maps,
    basin_maps_from_frame,
    basins_frame,
    spread_starts,
    start_grid,
)
from optiscope.paths.engine import EngineOptions, assemble, run, run_block
from optiscope.paths.pathset import RUN_STATUSES, PathSet, TableLayout, first_step_at_or_below
from optiscope.paths.state_trace import (
    StateTrace,
    adagrad_demo_gradients,
    adagrad_demo_updates,
    per_coordinate_step_sizes,
    trace_state,
)

__all__ = [
    "DIVERGED",
    "RUN_STATUSES",
    "UNRESOLVED",
    "BasinMap",
    "EngineOptions",
    "PathSet",
    "StateTrace",
    "TableLayout",
    "adagrad_demo_gradients",
    "adagrad_demo_updates",
    "assemble",
    "basin_map",
    "basin_maps",
    "basin_maps_from_frame",
    "basins_frame",
    "first_step_at_or_below",
    "per_coordinate_step_sizes",
    "run",
    "run_block",
    "spread_starts",
    "start_grid",
    "trace_state",
]
