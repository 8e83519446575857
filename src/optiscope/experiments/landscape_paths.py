"""A landscape study's recorded paths on its plane: each run's coordinates, how much of its
motion the plane holds, and the true loss beside the surface's along it (``path.parquet``)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call

from optiscope.experiments.landscape_joint import JointRuns
from optiscope.experiments.study_inputs import StudyInputs
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.evaluate import evaluate_points
from optiscope.landscape.projection import PathProjection, project_path

__all__ = ["PlanePath", "loss_at", "path_table", "paths_table", "plane_paths"]

_MAX_PATH_POINTS = 200


class PlanePath(NamedTuple):
    """One run's path: its name (None for the study's only run), snapshots, place on the plane."""

    name: str | None
    snapshots: np.ndarray
    projection: PathProjection


def plane_paths(inputs: StudyInputs, directions: Directions, joint: JointRuns | None) -> list[PlanePath]:
    """Each recorded path's least-squares coordinates on the plane (none without a path)."""
    if joint is not None:
        return [
            PlanePath(*run) for run in zip(joint.names, joint.snapshots, joint.plane.projections, strict=True)
        ]
    if len(inputs.run.snapshots) == 0:
        return []
    projection = project_path(inputs.run.snapshots, inputs.model, directions, steps=inputs.run.steps)
    return [PlanePath(None, np.asarray(inputs.run.snapshots), projection)]


def paths_table(
    inputs: StudyInputs, paths: list[PlanePath], directions: Directions, *, engine: str, device: str
) -> pd.DataFrame | None:
    """Every path's table (:func:`path_table`), with a first column ``run`` for several runs."""
    if not paths:
        return None
    frames = [path_table(inputs, path, directions, engine=engine, device=device) for path in paths]
    if paths[0].name is None:
        return frames[0]
    frames = [frame.assign(run=path.name) for frame, path in zip(frames, paths, strict=True)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["run", *[c for c in frame.columns if c != "run"]]]


def path_table(
    inputs: StudyInputs, path: PlanePath, directions: Directions, *, engine: str, device: str
) -> pd.DataFrame:
    """A recorded path on the plane: coordinates, fidelity, true loss beside the surface's."""
    projection = path.projection
    frame = projection.to_frame()
    keep = np.unique(np.linspace(0, len(frame) - 1, min(len(frame), _MAX_PATH_POINTS)).round().astype(int))
    frame = frame.iloc[keep].reset_index(drop=True)
    frame["true_loss"] = [loss_at(inputs, path.snapshots[i]) for i in keep]
    surface = evaluate_points(
        inputs.model,
        inputs.loss_fn,
        inputs.data,
        directions,
        projection.coords[keep],
        engine=engine,
        device=device,
    )
    frame["surface_loss"] = surface[0]
    return frame


def loss_at(inputs: StudyInputs, weights: np.ndarray) -> float:
    """The mean loss of the model at the flat ``weights`` (the model itself is untouched)."""
    model, loss_fn = inputs.model, inputs.loss_fn
    named = dict(model.named_parameters())
    first = next(iter(named.values()))
    vector = torch.as_tensor(weights).to(device=first.device, dtype=first.dtype)
    pieces = torch.split(vector, [p.numel() for p in named.values()])
    params = {name: piece.view_as(p) for (name, p), piece in zip(named.items(), pieces, strict=True)}
    x, y = inputs.data
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 4096):
            outputs = functional_call(model, params, (x[i : i + 4096],))
            total += float(loss_fn(outputs, y[i : i + 4096])) * len(outputs)
    return total / len(x) if math.isfinite(total) else math.nan
