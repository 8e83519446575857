"""A landscape grid as work units: chunks of alpha rows, each a pure function of the plane.

Every chunk of one grid evaluates the same :class:`GridPlane` (the model at the grid's origin, the
data, the loss, the directions and the engine) at its own coordinates. The executor sends the
plane to its workers once (on Ray, one object in the object store, not a copy per task) and runs
``evaluate_chunk(plane, coords)`` for each chunk; each chunk is stored (``units/grid-NNN``) as it
finishes, so a killed evaluation resumes at the chunks still missing, on either executor, and its
grid equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from optiscope.errors import SpecError
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.evaluate import evaluate_points
from optiscope.store import RunDir
from optiscope.tuning.executors import current_executor

__all__ = ["CHUNKS", "GridPlane", "evaluate_chunk", "evaluate_grid", "grid_coords"]

CHUNKS = 8  # units per grid: enough to resume without losing much, few enough to keep each one big
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class GridPlane:
    """What every chunk of one grid is evaluated on; picklable (modules, tensors, strings), so a
    Ray worker receives the weights and the data themselves, not a path to rebuild them from.

    Attributes:
        model: the network at the grid's origin (its weights are read, never written).
        loss_fn: the batch-mean loss module.
        data: the samples ``(X, y)``.
        directions: the line's or plane's directions.
        engine: ``auto``, ``first_layer``, ``vmap`` or ``loop``.
        device: where the points are evaluated.
    """

    model: nn.Module
    loss_fn: nn.Module
    data: tuple[torch.Tensor, torch.Tensor]
    directions: Directions
    engine: str
    device: str


def evaluate_chunk(plane: GridPlane, coords: np.ndarray) -> tuple[Arrays, dict[str, Any]]:
    """One unit: loss and accuracy at ``coords (P, dims)``, and which engine evaluated them (as meta)."""
    info: dict[str, Any] = {}
    loss, accuracy = evaluate_points(
        plane.model, plane.loss_fn, plane.data, plane.directions, coords, engine=plane.engine,
        device=plane.device, info=info,
    )  # fmt: skip
    return {"loss": loss, "accuracy": accuracy}, info


def grid_coords(alphas: np.ndarray, betas: np.ndarray | None) -> np.ndarray:
    """Every point of the line ``(n_alpha, 1)`` or of the plane ``(n_alpha * n_beta, 2)``, row-major."""
    if betas is None:
        return alphas[:, None]
    return np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)


def _chunk_points(n_alpha: int, per_row: int) -> list[slice]:
    """The flat point ranges of the chunks: whole alpha rows, split as evenly as they go."""
    rows = np.array_split(np.arange(n_alpha), min(CHUNKS, n_alpha))
    return [slice(int(chunk[0]) * per_row, (int(chunk[-1]) + 1) * per_row) for chunk in rows]


def evaluate_grid(
    run_dir: RunDir,
    plane: GridPlane,
    axes: tuple[np.ndarray, np.ndarray | None],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Loss and accuracy of every grid point (flat, row-major) and the last chunk's engine facts.

    Chunks a killed run stored are read back; the others run on the current executor, each
    stored as it finishes. ``progress(chunks done, chunks)`` is called after each.

    Raises:
        SpecError: the Ray executor asked to evaluate on a GPU.
    """
    executor = current_executor()
    if executor.name == "ray" and torch.device(plane.device).type != "cpu":
        raise SpecError(
            f"--executor ray evaluates the chunks on CPU workers (Ray gives its tasks no GPU here); "
            f"use --device cpu, or the local executor for --device {plane.device}"
        )
    alphas, betas = axes
    coords = grid_coords(alphas, betas)
    points = _chunk_points(len(alphas), 1 if betas is None else len(betas))
    loss, accuracy = np.empty(len(coords)), np.empty(len(coords))
    infos: dict[int, dict[str, Any]] = {}

    def place(index: int, arrays: Arrays, info: dict[str, Any]) -> None:
        loss[points[index]], accuracy[points[index]] = arrays["loss"], arrays["accuracy"]
        infos[index] = info
        if progress is not None:
            progress(len(infos), len(points))

    for index in range(len(points)):
        if run_dir.has_unit(_unit_id(index)):
            place(index, *run_dir.reuse_unit(_unit_id(index)))
    pending = [index for index in range(len(points)) if index not in infos]
    chunks = [coords[points[index]] for index in pending]
    for position, (arrays, info) in executor.run_shared(evaluate_chunk, plane, chunks):
        run_dir.save_unit(_unit_id(pending[position]), arrays, info)
        place(pending[position], arrays, info)
    return loss, accuracy, infos[len(points) - 1]


def _unit_id(index: int) -> str:
    return f"grid-{index:03d}"
