"""Several runs on one landscape plane (``--directions pca-joint``): load them, find the plane.

The first run is the study's own (its data and loss measure the grid); the others come from
``LandscapeConfig.joint``. All runs' paths are stacked around one common centre (a run's final
weights, or the mean of the runs' final weights) and the plane is their top two principal axes
(:func:`~optiscope.landscape.joint_plane`); the grid is evaluated around that centre.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optiscope.errors import SpecError
from optiscope.experiments.study_inputs import StudyInputs, load_inputs
from optiscope.landscape.joint_plane import JointPlane, joint_plane, model_at
from optiscope.landscape.picture import path_span

if TYPE_CHECKING:
    from optiscope.experiments.landscape_study import LandscapeConfig

__all__ = ["JointRuns", "centre_text", "check_joint_runs", "joint_notes", "load_joint_runs"]


@dataclasses.dataclass(frozen=True)
class JointRuns:
    """The runs drawn on one plane, and the plane.

    Attributes:
        inputs: the study's run, its model moved to the plane's centre (the grid's origin).
        names: each run's folder name, the study's run first.
        snapshots: each run's path ``(k_r, n_params)``.
        plane: the shared directions, centre and each run's projection.
    """

    inputs: StudyInputs
    names: tuple[str, ...]
    snapshots: tuple[np.ndarray, ...]
    plane: JointPlane

    def span(self) -> float:
        """The half-width that holds every run's path (:func:`path_span` of the furthest)."""
        return max(path_span(projection) for projection in self.plane.projections)


def _centre(centre: str) -> int | str:
    return "mean" if centre == "mean" else int(centre)


def check_joint_runs(runs: Sequence[str], all_inputs: Sequence[StudyInputs]) -> None:
    """Refuse runs of different parameter counts, or without a recorded path, in one line."""
    counts = [sum(p.numel() for p in inputs.model.parameters()) for inputs in all_inputs]
    for run, inputs, count in zip(runs, all_inputs, counts, strict=True):
        if count != counts[0]:
            raise SpecError(
                f"pca-joint needs runs of one architecture: {run} has {count} parameters, "
                f"{runs[0]} has {counts[0]}"
            )
        if len(inputs.run.snapshots) == 0:
            raise SpecError(f"pca-joint needs every run's weight path: {run} recorded none")


def load_joint_runs(config: LandscapeConfig, inputs: StudyInputs) -> JointRuns:
    """The runs of ``config.joint`` loaded like the study's own, checked, and the plane of all paths.

    Raises:
        SpecError: a run does not load, has another parameter count or no recorded path.
        LandscapeError: the centre's run index is out of range, or the paths span under 2 dims.
    """
    runs = [config.run, *config.joint]
    others = [
        load_inputs(run, config.data, model=config.model, loss=config.loss, device=config.device)
        for run in config.joint
    ]
    all_inputs = [inputs, *others]
    check_joint_runs(runs, all_inputs)
    snapshots = tuple(np.asarray(i.run.snapshots) for i in all_inputs)
    plane = joint_plane(snapshots, inputs.model, centre=_centre(config.centre),
                        steps=[i.run.steps for i in all_inputs])  # fmt: skip
    moved = dataclasses.replace(inputs, model=model_at(inputs.model, plane.centre))
    return JointRuns(moved, tuple(Path(run).name for run in runs), snapshots, plane)


def centre_text(centre: str, names: Sequence[str]) -> str:
    """Where the plane is centred, in words: ``run 0's final weights (sgd)`` or the mean."""
    if centre == "mean":
        return "the mean of the runs' final weights"
    return f"run {centre}'s final weights ({names[int(centre)]})"


def joint_notes(runs: JointRuns, centre: str) -> list[str]:
    """The report's lines: the centre, and the share of each run's path the plane holds."""
    captured = runs.plane.directions.meta["captured_per_run"]
    shares = ", ".join(f"{100 * c:.1f}% of {name}'s" for name, c in zip(runs.names, captured, strict=True))
    return [
        f"one plane for {len(runs.names)} runs: the top two principal axes of all their paths, "
        f"centred on {centre_text(centre, runs.names)}",
        f"the plane captures {shares} path (the squared displacement from the centre it holds)",
        f"the surface is the loss on {runs.names[0]}'s data",
    ]
