"""A landscape study: a run -> directions -> grid (resumable chunks) -> path -> figures.

The run is a training run or a recording of the user's own loop
(:mod:`optiscope.experiments.study_inputs`); the loss is cross-entropy or MSE.

The grid is cut into chunks of alpha rows (:mod:`optiscope.experiments.landscape_chunks`); each
chunk is a work unit, run by the current executor (in this process, or as a Ray task) and stored
as it finishes, so a killed evaluation resumes at the missing chunks, on either executor, and its
grid equals an uninterrupted one. The directions are stored first (``directions.safetensors``)
and read back on a resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from optiscope.curvature import top_eigen
from optiscope.errors import SpecError
from optiscope.experiments.execute import execute
from optiscope.experiments.landscape_chunks import GridPlane, evaluate_grid
from optiscope.experiments.landscape_convexity import store_convexity
from optiscope.experiments.landscape_joint import JointRuns, joint_notes, load_joint_runs
from optiscope.experiments.landscape_paths import PlanePath, paths_table, plane_paths
from optiscope.experiments.landscape_render import (
    DIRECTIONS_FILE,
    GRID_FILE,
    LandscapeResult,
    load_landscape,
    path_from_table,
    render_landscape,
)
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.experiments.study_inputs import (
    DataSpec,
    LossName,
    ModelPath,
    StudyInputs,
    load_inputs,
    select_data,
)
from optiscope.landscape.directions import directions_from_vectors, interpolation_direction
from optiscope.landscape.directions_base import Directions
from optiscope.landscape.grid import INTERPOLATION_POINTS, INTERPOLATION_RANGE, LandscapeGrid
from optiscope.landscape.picture import path_span, plane_directions
from optiscope.landscape.projection import gradient_on_plane
from optiscope.nets.runs import load_run
from optiscope.store import RunDir
from optiscope.tuning.executors import executor_scope, make_executor
from optiscope.validated import validated

__all__ = [
    "LANDSCAPE",
    "LandscapeConfig",
    "LandscapeResult",
    "check_inputs",
    "default_out",
    "load_landscape",
    "path_from_table",
    "run_landscape_study",
    "select_data",
    "study_title",
    "without_defaults",
]

_DIRECTION_KINDS = ("filter", "layer", "none", "pca", "pca-joint", "hessian")
# Fields added for the user's own runs, for several runs on one plane and for the convexity map; at
# their defaults they stay out of the spec, so runs stored before them keep their cache keys.
_OWN_WORK_FIELDS = ("model", "loss", "joint", "centre", "convexity")


class LandscapeConfig(BaseModel):
    """What to draw: validated once, hashed into the landscape run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: str = Field(description="the training run or recording directory")
    directions: str = Field(
        default="filter", description="filter|layer|none|pca|pca-joint|hessian|interpolate:RUN_B"
    )
    grid: int = Field(default=51, ge=2, le=1001, description="points per axis")
    span: float | None = Field(
        default=None,
        gt=0,
        description="the axes run over [-span, span]; None: 1 (Li et al.), pca: the path's",
    )
    data: DataSpec = "train"
    seed: int = 123
    ignore: str | None = "biasbn"
    engine: str = "auto"
    device: str = "cpu"
    model: ModelPath = None
    loss: LossName = "cross_entropy"
    joint: tuple[str, ...] = Field(default=(), description="pca-joint: the other runs on the plane")
    centre: str = Field(default="0", description="pca-joint: a run's index (0 is run) or mean")
    convexity: int | None = Field(
        default=None,
        ge=2,
        le=1001,
        description="points per axis of a |lambda_min/lambda_max| map (Li sec. 6)",
    )

    @field_validator("directions")
    @classmethod
    def _known_directions(cls, value: str) -> str:
        if value in _DIRECTION_KINDS or (value.startswith("interpolate:") and len(value) > 12):
            return value
        raise ValueError(f"must be one of {', '.join(_DIRECTION_KINDS)} or interpolate:RUN_B")

    @model_validator(mode="after")
    def _joint_runs(self) -> LandscapeConfig:
        if self.directions == "pca-joint" and not self.joint:
            raise ValueError("pca-joint draws several runs on one plane: give at least two runs")
        if self.directions != "pca-joint" and (self.joint or self.centre != "0"):
            raise ValueError("joint runs and centre belong to --directions pca-joint")
        if self.centre != "mean" and not (self.centre.isdigit() and int(self.centre) <= len(self.joint)):
            raise ValueError(f"centre must be mean or a run index 0..{len(self.joint)}; got {self.centre!r}")
        if self.convexity is not None and self.dims != 2:
            raise ValueError("a convexity map needs a plane: not with interpolate:RUN_B")
        return self

    @model_serializer(mode="wrap")
    def _spec(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_defaults(self, handler(self), _OWN_WORK_FIELDS)

    @classmethod
    def build(cls, **fields: Any) -> LandscapeConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)

    @property
    def dims(self) -> int:
        """1 for an interpolation, else 2."""
        return 1 if self.directions.startswith("interpolate:") else 2


def without_defaults(config: BaseModel, fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``fields`` less those of ``names`` that hold their default (a spec that predates them)."""
    for name in names:
        default = type(config).model_fields[name].default
        if name in fields and fields[name] in (
            default,
            list(default) if isinstance(default, tuple) else None,
        ):
            del fields[name]
    return fields


def check_inputs(config: LandscapeConfig) -> None:
    """Load the run(s), build the model and data, check they fit: the user's error before any folder."""
    inputs = load_inputs(config.run, config.data, model=config.model, loss=config.loss, device=config.device)
    if config.joint:
        load_joint_runs(config, inputs)


def _make_directions(config: LandscapeConfig, inputs: StudyInputs, joint: JointRuns | None) -> Directions:
    kind = config.directions
    if joint is not None:
        return joint.plane.directions
    if kind == "hessian":
        return _hessian_directions(config, inputs)
    if kind.startswith("interpolate:"):
        other = load_run(kind.partition(":")[2], model=config.model, device="cpu")
        if other.model is None:
            raise SpecError(f"{kind}: the recording does not say how to build its model; pass --model")
        return interpolation_direction(inputs.model, other.model)
    return plane_directions(inputs.model, kind, inputs.run.snapshots, seed=config.seed, ignore=config.ignore)


def _hessian_directions(config: LandscapeConfig, inputs: StudyInputs) -> Directions:
    """The top two Hessian eigenvectors of the loss on the landscape's own data (seed 001)."""
    spectrum = top_eigen(
        inputs.model, inputs.loss_fn, inputs.data, k=2, tol=1e-6, device=config.device, dtype=torch.float64
    )
    meta = {
        "eigenvalues": [float(v) for v in spectrum.values],
        "residuals": [float(r) for r in spectrum.residuals],
    }
    return directions_from_vectors(spectrum.vectors.T, inputs.model, kind="hessian", meta=meta)


def _directions(
    run_dir: RunDir, config: LandscapeConfig, inputs: StudyInputs, joint: JointRuns | None
) -> Directions:
    stored = run_dir.path / DIRECTIONS_FILE
    if stored.is_file():
        return Directions.load(stored)
    directions = _make_directions(config, inputs, joint)
    run_dir.write_bytes(DIRECTIONS_FILE, directions.to_bytes())
    return directions


def _span(config: LandscapeConfig, paths: list[PlanePath]) -> float:
    """The half-width of the plane: as asked; for PCA axes (not normalised to the weights, unit
    length) enough to hold every path with a margin (:func:`path_span`)."""
    if config.span is not None:
        return config.span
    if config.directions.startswith("pca") and paths:
        return max(path_span(path.projection) for path in paths)
    return 1.0


def _axes(config: LandscapeConfig, span: float) -> tuple[np.ndarray, np.ndarray | None]:
    if config.dims == 1:
        low, high = INTERPOLATION_RANGE
        return np.linspace(low, high, INTERPOLATION_POINTS), None
    axis = np.linspace(-span, span, config.grid)
    return axis, axis.copy()


def _compute(config: LandscapeConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Directions, the grid chunk by chunk (resumable), the path on the plane, the summary."""
    inputs = load_inputs(config.run, config.data, model=config.model, loss=config.loss, device=config.device)
    joint = load_joint_runs(config, inputs) if config.joint else None
    inputs = inputs if joint is None else joint.inputs  # its model at the plane's centre
    directions = _directions(run_dir, config, inputs, joint)
    began = time.perf_counter()
    paths = plane_paths(inputs, directions, joint)
    projection = paths[0].projection if paths else None
    span = _span(config, paths)
    alphas, betas = _axes(config, span)
    plane = GridPlane(inputs.model, inputs.loss_fn, inputs.data, directions, config.engine, config.device)
    loss, accuracy, info = evaluate_grid(run_dir, plane, (alphas, betas), ctx.progress)
    if config.convexity is not None:
        store_convexity(run_dir, inputs, directions, span, config.convexity)
    shape = (len(alphas),) if betas is None else (len(alphas), len(betas))
    attrs = {
        "directions_kind": directions.kind,
        "directions_meta": directions.meta,
        "data": config.data,
        "samples": len(inputs.data[0]),
        "run": str(config.run),
        "span": span,
        "loss_fn": config.loss,
        **info,
    }
    grid = LandscapeGrid(alphas, betas, loss.reshape(shape), accuracy.reshape(shape), attrs)
    table = paths_table(inputs, paths, directions, engine=config.engine, device=config.device)
    gradient = gradient_on_plane(inputs.model, inputs.loss_fn, inputs.data, directions)
    run_dir.write_bytes(GRID_FILE, grid.to_netcdf_bytes())
    if table is not None:
        run_dir.write_table("path", table)
    run_dir.write_table("summary", _summary(grid, paths, gradient))
    if joint is not None:
        run_dir.write_text(
            "findings.md", "".join(f"- {line}\n" for line in joint_notes(joint, config.centre))
        )
    title = study_title(inputs, config.data)
    run_dir.set_info(
        title=title if joint is None else f"{', '.join(joint.names)} on one plane; run 0: {title}"
    )
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
    executor: str | None = None,
    ray_address: str | None = None,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> LandscapeResult:
    """Evaluate the landscape of ``config.run`` into ``out`` (default ``RUN/landscape``), and draw it.

    The grid's chunks run on ``executor``: ``local`` (default) or ``ray`` (``ray_address`` joins a
    running cluster); the numbers are the same either way.
    """
    target = out if out is not None else default_out(config.run, "landscape")
    with executor_scope(make_executor(executor, ray_address)):
        execution = execute(LANDSCAPE, config, target, style=style, force=force, progress=progress)
    return load_landscape(execution.run_dir)


def study_title(inputs: StudyInputs, data: str) -> str:
    """A figure title naming what was measured: a training run's setting, or a recording's model."""
    c = inputs.run.config
    if c is None:
        return (
            f"{inputs.run.meta.get('model', 'model')} (recording {inputs.run.run_dir.path.name}), data {data}"
        )
    return f"{c.model} on {c.dataset}, {c.optimizer}, batch {c.batch_size or 'full'}"


def _summary(grid: LandscapeGrid, paths: list[PlanePath], gradient: Any) -> pd.DataFrame:
    finite = grid.loss[np.isfinite(grid.loss)]
    row = {
        "directions": grid.attrs.get("directions_kind"),
        "data": grid.attrs.get("data"),
        "samples": grid.attrs.get("samples"),
        "center_loss": float(grid.loss[grid.center_index()]),
        "min_loss": float(finite.min()) if finite.size else math.nan,
        "max_loss": float(finite.max()) if finite.size else math.nan,
        "path_captured": paths[0].projection.total_captured if paths else math.nan,
        "gradient_norm": float(gradient.norm),
        "gradient_captured": float(gradient.captured),
        **{
            f"gradient_{axis}": float(value)
            for axis, value in zip(("alpha", "beta"), gradient.coords, strict=False)
        },
        "explained_variance": str(grid.attrs.get("directions_meta", {}).get("explained_variance_ratio", "")),
        "engine": grid.attrs.get("engine", "?"),
        **{f"captured_{p.name}": p.projection.total_captured for p in paths if p.name is not None},
    }
    return pd.DataFrame([row])
