"""The common landscape picture in one call: directions, a grid that holds the path, the figure.

:func:`plot` strings together what the landscape package offers piece by piece (directions,
:func:`~optiscope.landscape.evaluate`, :func:`~optiscope.landscape.project_path`,
:func:`~optiscope.landscape.gradient_on_plane`) and draws the result with
:func:`optiscope.viz.landscape_contour` (so this module, unlike the rest of the package, draws).
``optiscope landscape`` computes the same numbers: it
takes its directions from :func:`plane_directions` and its span from :func:`path_span`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from optiscope.landscape.directions import DEFAULT_SEED, pca_directions, random_directions
from optiscope.landscape.directions_base import DegeneratePathError, Directions, LandscapeError
from optiscope.landscape.evaluate import evaluate
from optiscope.landscape.grid import (
    DEFAULT_POINTS,
    DEFAULT_SPAN,
    INTERPOLATION_POINTS,
    INTERPOLATION_RANGE,
    LandscapeGrid,
    grid_axes,
)
from optiscope.landscape.projection import PathProjection, gradient_on_plane, project_path
from optiscope.nets.recorder import flatten_parameters

# The module, not its names: importing optiscope.viz first loads landscape_figures, which loads
# this package (and so this module) before it has defined its figures.
from optiscope.viz import landscape_figures

__all__ = ["PATH_MARGIN", "LandscapePicture", "path_arrays", "path_span", "plane_directions", "plot"]

PATH_MARGIN = 1.2  # the plane reaches this many times the path's furthest coordinate


class LandscapePicture(NamedTuple):
    """What :func:`plot` returns: unpack it as ``grid, projection, figure``.

    Attributes:
        grid: the loss (and accuracy) on the plane, ``(points, points)``; ``attrs["span"]`` says
            how far it reaches.
        projection: the path's coordinates on the plane and the share of it the plane holds, or
            ``None`` without a path.
        figure: the contour figure (matplotlib), the path drawn on it; a curve for one direction.
    """

    grid: LandscapeGrid
    projection: PathProjection | None
    figure: Figure


def path_arrays(path: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(snapshots (k, n_params), steps (k,) or None)`` of any recorded path.

    Accepts what :func:`optiscope.nets.load_run` returns, a
    :class:`~optiscope.nets.PathRecorder`, a :class:`~optiscope.nets.TrainRun`, a pair
    ``(snapshots, steps)`` or the snapshots alone.

    Raises:
        LandscapeError: the object holds no path.
    """
    snapshots = getattr(path, "snapshots", None)
    if snapshots is not None:
        # a TrainRun's ``steps`` counts its steps; its snapshots' steps are ``snapshot_steps``
        steps = getattr(path, "snapshot_steps", None)
        steps = getattr(path, "steps", None) if steps is None else steps
        return np.asarray(snapshots), None if steps is None else np.asarray(steps)
    if isinstance(path, tuple) and len(path) == 2:
        return np.asarray(path[0]), None if path[1] is None else np.asarray(path[1])
    if isinstance(path, np.ndarray | torch.Tensor):
        return np.asarray(path.detach().cpu() if isinstance(path, torch.Tensor) else path), None
    raise LandscapeError(
        f"path must be a recording, a recorder, (snapshots, steps) or snapshots; got {type(path)}"
    )


def path_span(projection: PathProjection | None, margin: float = PATH_MARGIN) -> float:
    """Half-width of a plane that holds the whole projected path: ``margin`` times its reach.

    Li et al. frame their path plots this way; without a path (or one that never left the
    centre) it is the default span, 1.
    """
    if projection is None:
        return DEFAULT_SPAN
    reach = float(np.abs(projection.coords).max())
    return margin * reach if reach > 0 else DEFAULT_SPAN


def plane_directions(
    model: nn.Module,
    kind: str,
    snapshots: np.ndarray | None = None,
    *,
    seed: int = DEFAULT_SEED,
    ignore: str | None = "biasbn",
) -> Directions:
    """Two directions of kind ``pca`` (of the path, through the model's weights) or random.

    A path that moved along one line only (it jumped once, then its ReLUs died) has one
    principal axis: the second axis is then a filter-normalised random direction made
    orthogonal to it, as ``meta["fallback"]`` says.

    Args:
        model: the network at the plane's centre.
        kind: ``pca``, or ``filter``/``layer``/``none`` (random, Li et al.).
        snapshots: the path ``(k, n_params)``; PCA needs at least 3 snapshots.
        seed: seed of random directions.
        ignore: ``"biasbn"`` zeroes biases and norm layers in random directions; ``None`` keeps them.

    Raises:
        LandscapeError: an unknown kind, or PCA without a path of 3 snapshots.
    """
    if kind != "pca":
        return random_directions(model, normalization=kind, ignore=ignore, seed=seed)
    if snapshots is None or len(snapshots) < 3:
        found = 0 if snapshots is None else len(snapshots)
        raise LandscapeError(f"pca directions need a recorded path of >= 3 snapshots; got {found}")
    centre = flatten_parameters(model)
    try:
        return pca_directions(snapshots, final=centre, layout=model)
    except DegeneratePathError:
        pass
    line = pca_directions(snapshots, final=centre, layout=model, dims=1)
    random = random_directions(model, normalization="filter", ignore=ignore, seed=seed)
    first = line.flat(0).to(torch.float64)
    second = random.flat(0).to(torch.float64)
    second = second - (second @ first) * first
    norm = torch.linalg.vector_norm(second)
    if norm == 0:
        raise LandscapeError("the path's axis and the random direction coincide; pick another seed")
    meta = {**line.meta, "fallback": "the path spans one dimension: axis 2 is random (filter), orthogonal"}
    flats = [first.to(line.flat(0).dtype), (second / norm).to(line.flat(0).dtype)]
    return Directions.from_flat(flats, line.layout, kind="pca", meta=meta)


def plot(
    model: nn.Module,
    loss_fn: Any,
    data: Any,
    path: Any = None,
    directions: str | Directions = "filter",
    *,
    points: int | None = None,
    span: float | None = None,
    seed: int = DEFAULT_SEED,
    ignore: str | None = "biasbn",
    engine: str = "auto",
    device: Any = None,
    dtype: Any = None,
    title: str = "",
) -> LandscapePicture:
    """The loss landscape around ``model``'s weights with the training path on it, in one call.

    Example::

        run = optiscope.nets.load_run("runs/mine")
        grid, projection, figure = optiscope.landscape.plot(
            run.model, nn.CrossEntropyLoss(), (x, y), path=run, directions="pca")
        figure.savefig("landscape.png")

    Args:
        model: the network at the centre of the plane (the final weights of the path).
        loss_fn: ``loss_fn(outputs, y)`` returning the batch mean, e.g. ``nn.CrossEntropyLoss()``.
        data: ``(x, y)`` tensors or an iterable of ``(x, y)`` batches.
        path: the recorded path: a loaded run, a recorder, ``(snapshots, steps)`` or snapshots.
        directions: ``pca`` (of the path), ``filter``, ``layer``, ``none`` (random, Li et al.),
            or any :class:`~optiscope.landscape.Directions` (one or two): an
            :func:`~optiscope.landscape.interpolation_direction` to another run, your own.
        points: grid points per axis (default 51; an interpolation's 401, as the CLI's).
        span: the axes run over ``[-span, span]``; ``None``: for PCA directions the path's reach
            times :data:`PATH_MARGIN` (:func:`path_span`), for an interpolation ``[-0.5, 1.5]``,
            else 1 (Li et al.).
        seed: seed of random directions.
        ignore: ``"biasbn"`` zeroes biases and norm layers in random directions.
        engine: ``auto``, ``first_layer``, ``vmap`` or ``loop`` (see :func:`evaluate`).
        device: where to evaluate.
        dtype: floating dtype to evaluate in.
        title: the figure's first title line.

    Returns:
        A :class:`LandscapePicture` ``(grid, projection, figure)``.

    Raises:
        LandscapeError: PCA without a path, a path of another layout than the model, bad sizes.
    """
    snapshots, steps = (None, None) if path is None else path_arrays(path)
    if isinstance(directions, Directions):
        chosen = directions
    else:
        chosen = plane_directions(model, directions, snapshots, seed=seed, ignore=ignore)
    projection = None if snapshots is None else project_path(snapshots, model, chosen, steps=steps)
    if span is None and chosen.kind == "interpolate":
        low, high = INTERPOLATION_RANGE  # from before model_a (0) to past model_b (1), as the CLI
        span, axis = (high - low) / 2, np.linspace(low, high, points or INTERPOLATION_POINTS)
    else:
        if span is None:
            span = path_span(projection) if chosen.kind == "pca" else DEFAULT_SPAN
        axis = grid_axes(span, points or DEFAULT_POINTS)
    betas = None if chosen.dims == 1 else axis.copy()
    grid = evaluate(model, loss_fn, data, chosen, axis, betas, engine=engine, device=device, dtype=dtype)
    grid = LandscapeGrid(grid.alphas, grid.betas, grid.loss, grid.accuracy, {**grid.attrs, "span": span})
    if chosen.dims == 1:
        return LandscapePicture(grid, projection, landscape_figures.landscape_curve(grid, title=title))
    gradient = gradient_on_plane(model, loss_fn, data, chosen)
    figure = landscape_figures.landscape_contour(grid, path=projection, gradient=gradient, title=title)
    return LandscapePicture(grid, projection, figure)
