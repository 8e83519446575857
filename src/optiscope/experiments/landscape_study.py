"""A landscape study: a trained run -> directions -> grid (resumable chunks) -> path -> figures.

The grid is cut into chunks of alpha rows; each chunk is one unit of the run directory, so a
killed evaluation resumes at the first missing chunk and its grid equals an uninterrupted one.
The directions are stored first (``directions.safetensors``) and read back on a resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.func import functional_call

from optiscope.curvature import top_eigen
from optiscope.errors import SpecError
from optiscope.experiments.execute import execute
from optiscope.experiments.landscape_render import (
    DIRECTIONS_FILE,
    GRID_FILE,
    LandscapeResult,
    load_landscape,
    path_from_table,
    render_landscape,
)
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.landscape.directions import (
    directions_from_vectors,
    interpolation_direction,
    pca_directions,
    random_directions,
)
from optiscope.landscape.directions_base import DegeneratePathError, Directions, LandscapeError
from optiscope.landscape.evaluate import evaluate_points
from optiscope.landscape.grid import INTERPOLATION_POINTS, INTERPOLATION_RANGE, LandscapeGrid
from optiscope.landscape.projection import PathProjection, gradient_on_plane, project_path
from optiscope.nets.trained import TrainedRun, load_trained
from optiscope.store import RunDir
from optiscope.validated import validated

__all__ = [
    "LANDSCAPE",
    "LandscapeConfig",
    "LandscapeResult",
    "check_data_spec",
    "default_out",
    "load_landscape",
    "path_from_table",
    "run_landscape_study",
    "select_data",
]

_CHUNKS = 8
_MAX_PATH_POINTS = 200
_PATH_MARGIN = 1.2
_DIRECTION_KINDS = ("filter", "layer", "none", "pca", "hessian")


def check_data_spec(value: str) -> str:
    """``value`` if it names the samples a net is probed on, else ``ValueError`` (for pydantic)."""
    kind, _, size = value.partition(":")
    if value in ("train", "test") or (kind in ("batch", "subset") and size.isdigit() and int(size) > 0):
        return value
    raise ValueError("must be train, test, batch:SIZE or subset:N (SIZE, N positive integers)")


class LandscapeConfig(BaseModel):
    """What to draw: validated once, hashed into the landscape run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: str = Field(description="the training run directory")
    directions: str = Field(default="filter", description="filter|layer|none|pca|interpolate:RUN_B")
    grid: int = Field(default=51, ge=2, le=1001, description="points per axis")
    span: float | None = Field(
        default=None,
        gt=0,
        description="the axes run over [-span, span]; None: 1 (Li et al.), pca: the path's",
    )
    data: str = Field(default="train", description="train|test|batch:SIZE|subset:N")
    seed: int = 123
    ignore: str | None = "biasbn"
    engine: str = "auto"
    device: str = "cpu"

    @field_validator("directions")
    @classmethod
    def _known_directions(cls, value: str) -> str:
        if value in _DIRECTION_KINDS or (value.startswith("interpolate:") and len(value) > 12):
            return value
        raise ValueError(f"must be one of {', '.join(_DIRECTION_KINDS)} or interpolate:RUN_B")

    @field_validator("data")
    @classmethod
    def _known_data(cls, value: str) -> str:
        return check_data_spec(value)

    @classmethod
    def build(cls, **fields: Any) -> LandscapeConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)

    @property
    def dims(self) -> int:
        """1 for an interpolation, else 2."""
        return 1 if self.directions.startswith("interpolate:") else 2


def select_data(trained: TrainedRun, spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples a landscape is evaluated on.

    ``batch:SIZE`` is the first minibatch the trainer drew (the first ``SIZE`` indices of its
    epoch-1 permutation, seed 000 fig. 1); ``subset:N`` the first ``N`` training samples.
    """
    data = trained.data
    kind, _, size = spec.partition(":")
    if kind == "test":
        return data.x_test, data.y_test
    if kind == "train":
        return data.x_train, data.y_train
    count = int(size)
    if count > len(data.x_train):
        raise SpecError(f"--data {spec} asks for {count} samples; the training set has {len(data.x_train)}")
    if kind == "subset":
        return data.x_train[:count], data.y_train[:count]
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(trained.config.seed))
    index = order[:count].to(data.x_train.device)
    return data.x_train[index], data.y_train[index]


def _make_directions(config: LandscapeConfig, trained: TrainedRun) -> Directions:
    kind = config.directions
    if kind == "pca":
        if trained.snapshots is None or len(trained.snapshots) < 3:
            raise SpecError(
                f"--directions pca needs a recorded path of >= 3 snapshots; {config.run} has none"
            )
        try:
            return pca_directions(trained.snapshots, layout=trained.model)
        except DegeneratePathError:
            return _pca_line_and_random(config, trained)
    if kind == "hessian":
        return _hessian_directions(config, trained)
    if kind.startswith("interpolate:"):
        other = load_trained(kind.partition(":")[2], device="cpu")
        return interpolation_direction(trained.model, other.model)
    return random_directions(trained.model, normalization=kind, ignore=config.ignore, seed=config.seed)


def _pca_line_and_random(config: LandscapeConfig, trained: TrainedRun) -> Directions:
    """A path along one line (e.g. it jumped once, then its ReLUs died): its axis, and as the
    second axis a filter-normalised random direction made orthogonal to it (said in ``meta``)."""
    line = pca_directions(trained.snapshots, layout=trained.model, dims=1)
    random = random_directions(trained.model, normalization="filter", ignore=config.ignore, seed=config.seed)
    first = line.flat(0).to(torch.float64)
    second = random.flat(0).to(torch.float64)
    second = second - (second @ first) * first
    norm = torch.linalg.vector_norm(second)
    if norm == 0:
        raise LandscapeError("the path's axis and the random direction coincide; pick another seed")
    meta = {**line.meta, "fallback": "the path spans one dimension: axis 2 is random (filter), orthogonal"}
    flats = [first.to(line.flat(0).dtype), (second / norm).to(line.flat(0).dtype)]
    return Directions.from_flat(flats, line.layout, kind="pca", meta=meta)


def _hessian_directions(config: LandscapeConfig, trained: TrainedRun) -> Directions:
    """The top two Hessian eigenvectors of the loss on the landscape's own data (seed 001)."""
    spectrum = top_eigen(
        trained.model,
        nn.CrossEntropyLoss(),
        select_data(trained, config.data),
        k=2,
        tol=1e-6,
        device=config.device,
        dtype=torch.float64,
    )
    meta = {
        "eigenvalues": [float(v) for v in spectrum.values],
        "residuals": [float(r) for r in spectrum.residuals],
    }
    return directions_from_vectors(spectrum.vectors.T, trained.model, kind="hessian", meta=meta)


def _directions(run_dir: RunDir, config: LandscapeConfig, trained: TrainedRun) -> Directions:
    stored = run_dir.path / DIRECTIONS_FILE
    if stored.is_file():
        return Directions.load(stored)
    directions = _make_directions(config, trained)
    run_dir.write_bytes(DIRECTIONS_FILE, directions.to_bytes())
    return directions


def _span(config: LandscapeConfig, projection: PathProjection | None) -> float:
    """The half-width of the plane: as asked; for PCA axes (not normalised to the weights, unit
    length) enough to hold the whole path with a margin, as Li et al. frame their path plots."""
    if config.span is not None:
        return config.span
    if config.directions == "pca" and projection is not None:
        reach = float(np.abs(projection.coords).max())
        return _PATH_MARGIN * reach if reach > 0 else 1.0
    return 1.0


def _axes(config: LandscapeConfig, span: float) -> tuple[np.ndarray, np.ndarray | None]:
    if config.dims == 1:
        low, high = INTERPOLATION_RANGE
        return np.linspace(low, high, INTERPOLATION_POINTS), None
    axis = np.linspace(-span, span, config.grid)
    return axis, axis.copy()


def _coords(alphas: np.ndarray, betas: np.ndarray | None) -> np.ndarray:
    if betas is None:
        return alphas[:, None]
    return np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)


def _grid_chunk(
    config: LandscapeConfig,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    directions: Directions,
    coords: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One unit: loss and accuracy at ``coords``, and which engine evaluated them (as meta)."""
    info: dict[str, Any] = {}
    loss, accuracy = evaluate_points(
        model, nn.CrossEntropyLoss(), data, directions, coords, engine=config.engine, device=config.device,
        info=info,
    )  # fmt: skip
    return {"loss": loss, "accuracy": accuracy}, info


def _evaluate_grid(
    run_dir: RunDir,
    config: LandscapeConfig,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    directions: Directions,
    axes: tuple[np.ndarray, np.ndarray | None],
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Loss and accuracy of every grid point, flat row-major; chunk by chunk, resuming."""
    alphas, betas = axes
    coords = _coords(alphas, betas)
    rows = np.array_split(np.arange(len(alphas)), min(_CHUNKS, len(alphas)))
    per_row = 1 if betas is None else len(betas)
    loss, accuracy = np.empty(len(coords)), np.empty(len(coords))
    info: dict[str, Any] = {}
    for index, chunk in enumerate(rows):
        points = slice(chunk[0] * per_row, (chunk[-1] + 1) * per_row)
        arrays, info = run_dir.unit(
            f"grid-{index:03d}",
            lambda points=points: _grid_chunk(config, model, data, directions, coords[points]),
        )
        loss[points], accuracy[points] = arrays["loss"], arrays["accuracy"]
        if progress is not None:
            progress(index + 1, len(rows))
    return loss, accuracy, info


def _projection(trained: TrainedRun, directions: Directions) -> PathProjection | None:
    """The recorded path's least-squares coordinates on the plane (None without a path)."""
    if trained.snapshots is None:
        return None
    return project_path(trained.snapshots, trained.model, directions, steps=trained.snapshot_steps)


def _path_table(
    config: LandscapeConfig,
    trained: TrainedRun,
    projection: PathProjection | None,
    data: tuple[torch.Tensor, torch.Tensor],
    directions: Directions,
) -> pd.DataFrame | None:
    """The recorded path on the plane: coordinates, fidelity, true loss beside the surface's."""
    if projection is None:
        return None
    model = trained.model
    frame = projection.to_frame()
    keep = np.unique(np.linspace(0, len(frame) - 1, min(len(frame), _MAX_PATH_POINTS)).round().astype(int))
    frame = frame.iloc[keep].reset_index(drop=True)
    frame["true_loss"] = [_loss_at(model, trained.snapshots[i], data) for i in keep]
    surface = evaluate_points(
        model,
        nn.CrossEntropyLoss(),
        data,
        directions,
        projection.coords[keep],
        engine=config.engine,
        device=config.device,
    )
    frame["surface_loss"] = surface[0]
    return frame


def _loss_at(model: nn.Module, weights: np.ndarray, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    """The mean cross-entropy of ``model`` at the flat ``weights`` (the model itself is untouched)."""
    named = dict(model.named_parameters())
    first = next(iter(named.values()))
    vector = torch.as_tensor(weights).to(device=first.device, dtype=first.dtype)
    pieces = torch.split(vector, [p.numel() for p in named.values()])
    params = {name: piece.view_as(p) for (name, p), piece in zip(named.items(), pieces, strict=True)}
    x, y = data
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), 4096):
            logits = functional_call(model, params, (x[i : i + 4096],))
            total += float(nn.functional.cross_entropy(logits, y[i : i + 4096], reduction="sum"))
    return total / len(x) if math.isfinite(total) else math.nan


def _compute(config: LandscapeConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Directions, the grid chunk by chunk (resumable), the path on the plane, the summary."""
    trained = load_trained(config.run, device=config.device)
    model, data = trained.model.eval(), select_data(trained, config.data)
    directions = _directions(run_dir, config, trained)
    began = time.perf_counter()
    projection = _projection(trained, directions)
    span = _span(config, projection)
    alphas, betas = _axes(config, span)
    loss, accuracy, info = _evaluate_grid(
        run_dir, config, model, data, directions, (alphas, betas), ctx.progress
    )
    shape = (len(alphas),) if betas is None else (len(alphas), len(betas))
    attrs = {
        "directions_kind": directions.kind,
        "directions_meta": directions.meta,
        "data": config.data,
        "samples": len(data[0]),
        "run": str(config.run),
        "span": span,
        **info,
    }
    grid = LandscapeGrid(alphas, betas, loss.reshape(shape), accuracy.reshape(shape), attrs)
    table = _path_table(config, trained, projection, data, directions)
    gradient = gradient_on_plane(model, nn.CrossEntropyLoss(), data, directions)
    run_dir.write_bytes(GRID_FILE, grid.to_netcdf_bytes())
    if table is not None:
        run_dir.write_table("path", table)
    run_dir.write_table("summary", _summary(grid, projection, gradient))
    run_dir.set_info(title=_title(trained, config))
    run_dir.record_timing("landscape", time.perf_counter() - began)
    return {
        "center_loss": float(grid.loss[grid.center_index()]),
        "path_captured": None if projection is None else projection.total_captured,
    }


LANDSCAPE: StudyKind[LandscapeConfig] = StudyKind(
    name="landscape",
    config=LandscapeConfig,
    run=_compute,
    render=render_landscape,
    default_style=Style(interactive=True),
    seeds=lambda config: {"directions": config.seed},
)


def default_out(run: str | Path, name: str) -> Path:
    """Where a study of a training run goes unless told: a folder of the run (``RUN/landscape``)."""
    return Path(run) / name


def run_landscape_study(
    config: LandscapeConfig,
    out: str | Path | None = None,
    *,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> LandscapeResult:
    """Evaluate the landscape of ``config.run`` into ``out`` (default ``RUN/landscape``), and draw it."""
    target = out if out is not None else default_out(config.run, "landscape")
    execution = execute(LANDSCAPE, config, target, style=style, force=force, progress=progress)
    return load_landscape(execution.run_dir)


def _title(trained: TrainedRun, config: LandscapeConfig) -> str:
    c = trained.config
    return f"{c.model} on {c.dataset}, {c.optimizer}, batch {c.batch_size or 'full'}"


def _summary(grid: LandscapeGrid, projection: PathProjection | None, gradient: Any) -> pd.DataFrame:
    finite = grid.loss[np.isfinite(grid.loss)]
    row = {
        "directions": grid.attrs.get("directions_kind"),
        "data": grid.attrs.get("data"),
        "samples": grid.attrs.get("samples"),
        "center_loss": float(grid.loss[grid.center_index()]),
        "min_loss": float(finite.min()) if finite.size else math.nan,
        "max_loss": float(finite.max()) if finite.size else math.nan,
        "path_captured": math.nan if projection is None else projection.total_captured,
        "gradient_norm": float(gradient.norm),
        "gradient_captured": float(gradient.captured),
        **{
            f"gradient_{axis}": float(value)
            for axis, value in zip(("alpha", "beta"), gradient.coords, strict=False)
        },
        "explained_variance": str(grid.attrs.get("directions_meta", {}).get("explained_variance_ratio", "")),
        "engine": grid.attrs.get("engine", "?"),
    }
    return pd.DataFrame([row])
