"""One landscape plane for several runs: shared PCA axes, the common centre, every path on it.

What ``optiscope landscape RUN_A RUN_B ... --directions pca-joint`` needs beside the grid
engine: the directions (:func:`~optiscope.landscape.pca_directions` of all paths), the centre
the grid is evaluated around (a run's final weights, or their mean), a model with its weights
set there, and each run's path projected on the plane with its captured share and its distance
from the plane per snapshot.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from optiscope.landscape.directions import pca_directions
from optiscope.landscape.directions_base import Directions, LandscapeError
from optiscope.landscape.joint_pca import Centre, joint_centre
from optiscope.landscape.projection import PathProjection, project_path

__all__ = ["JointPlane", "joint_plane", "model_at"]


@dataclass(frozen=True)
class JointPlane:
    """The shared plane of several runs.

    Attributes:
        directions: two unit PCA axes of kind ``pca-joint`` (``meta`` names the centre and each
            run's captured share).
        centre: ``(n_params,)`` float64, the plane's origin.
        projections: one :class:`PathProjection` per run, on ``directions`` around ``centre``.
    """

    directions: Directions
    centre: np.ndarray
    projections: tuple[PathProjection, ...]

    def path_frame(self, labels: Sequence[str]) -> pd.DataFrame:
        """All paths in one long table: ``run`` then the columns of :meth:`PathProjection.to_frame`."""
        if len(labels) != len(self.projections):
            raise LandscapeError(
                f"give one label per run: {len(self.projections)} runs, {len(labels)} labels"
            )
        frames = [p.to_frame().assign(run=label) for label, p in zip(labels, self.projections, strict=True)]
        frame = pd.concat(frames, ignore_index=True)
        return frame[["run", *[c for c in frame.columns if c != "run"]]]


def joint_plane(
    snapshots: Sequence[np.ndarray | torch.Tensor],
    layout: nn.Module | Sequence[tuple[str, Sequence[int]]],
    centre: Centre = 0,
    steps: Sequence[np.ndarray | None] | None = None,
) -> JointPlane:
    """The plane of all runs' paths around ``centre``, and each path on it.

    Args:
        snapshots: each run's path ``(k_r, n_params)``, ending at its final weights.
        layout: the model (or its ``(name, shape)`` pairs) all runs share.
        centre: a run index, ``"final"``, ``"mean"`` or a vector (see :func:`joint_centre`).
        steps: each run's snapshot steps, carried into its projection.

    Raises:
        LandscapeError: runs of different parameter counts, a bad centre, too few snapshots.
    """
    point = joint_centre(snapshots, centre)
    directions = pca_directions(list(snapshots), layout=layout, centre=centre)
    given = steps if steps is not None else [None] * len(snapshots)
    projections = tuple(
        project_path(path, point, directions, steps=step) for path, step in zip(snapshots, given, strict=True)
    )
    return JointPlane(directions, point, projections)


def model_at(model: nn.Module, weights: np.ndarray | torch.Tensor) -> nn.Module:
    """A copy of ``model`` with its parameters set to the flat ``weights`` (buffers kept)."""
    moved = copy.deepcopy(model)
    first = next(moved.parameters())
    vector = torch.as_tensor(np.asarray(weights)).to(device=first.device, dtype=first.dtype)
    torch.nn.utils.vector_to_parameters(vector, moved.parameters())
    return moved
