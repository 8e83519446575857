"""A curvature study of a run: top eigenpairs, trace, density, loss along the eigenvectors.

The run is a training run or a recording of the user's own loop
(:mod:`optiscope.experiments.study_inputs`); the loss is cross-entropy or MSE.

Each stage is one unit of the run directory (``spectrum``, ``trace``, ``density``, ``layers``,
``along-1``, ``along-2``), so a killed study resumes at the first missing stage. Seed 001 figs. 2
and 4-11: the loss along the top eigenvector beside its second-order model
``L + e g.v + (e^2 / 2) lambda``, and along the top two as a heat map and in 3-D.
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
)

from optiscope.curvature import (
    OPERATORS,
    HessianOperator,
    SpectralDensity,
    Spectrum,
    TraceEstimate,
    density_of,
    density_steps_for,
    top_eigen_of,
    trace_of,
)
from optiscope.experiments.curvature_layers import measure_layers
from optiscope.experiments.curvature_operators import compare_operators, measured_operator, study_operator
from optiscope.experiments.curvature_render import (
    DENSITY_FILE,
    EIGENVECTORS_FILE,
    CurvatureResult,
    load_curvature,
    render_curvature,
)
from optiscope.experiments.execute import execute
from optiscope.experiments.landscape_study import study_title, without_defaults
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind, Style
from optiscope.experiments.study_inputs import (
    DataSpec,
    LossName,
    ModelPath,
    StudyInputs,
    load_inputs,
)
from optiscope.landscape.directions import directions_from_vectors
from optiscope.landscape.evaluate import evaluate_points
from optiscope.landscape.grid import LandscapeGrid
from optiscope.store import RunDir
from optiscope.store.units import encode_unit
from optiscope.validated import validated

__all__ = [
    "CURVATURE",
    "CurvatureConfig",
    "CurvatureResult",
    "check_inputs",
    "load_curvature",
    "run_curvature_study",
]

# Out of the spec at their defaults (stable cache keys for specs that predate them).
_OWN_WORK_FIELDS = ("model", "loss", "layers", "operator")


class CurvatureConfig(BaseModel):
    """What to measure: validated once, hashed into the curvature run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: str = Field(description="the training run or recording directory")
    top_k: int = Field(default=2, ge=1, le=100)
    tol: float = Field(default=1e-6, gt=0, lt=1)
    method: str = "lanczos"
    data: DataSpec = "train"
    trace: bool = False
    trace_method: str = "hutch++"
    trace_samples: int = Field(default=150, ge=3, le=100_000)
    density: bool = False
    density_steps: int = Field(default=80, ge=2, le=2000)
    density_probes: int = Field(default=3, ge=1, le=100)
    along: bool = Field(
        default=True, description="loss along the top eigenvector(s) (seed 001 figs. 2, 4-11)"
    )
    layers: bool = Field(default=False, description="top eigenvalues and trace of each layer's block")
    along_points: int = Field(default=101, ge=3, le=2001)
    plane_points: int = Field(default=31, ge=3, le=301)
    span: float | None = Field(default=None, gt=0, description="None: where the quadratic rises by 1")
    device: str = "cpu"
    seed: int = 0
    model: ModelPath = None
    loss: LossName = "cross_entropy"
    operator: str = Field(
        default="hessian",
        description="the curvature measured: hessian, ggn, fisher, empirical-fisher, or all (the "
        "Hessian's study and a table comparing the four); layers are always Hessian blocks",
    )

    @field_validator("operator")
    @classmethod
    def _known_operator(cls, value: str) -> str:
        if value in (*OPERATORS, "all"):
            return value
        raise ValueError(f"unknown operator {value!r}; choose {', '.join(OPERATORS)} or all")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value in ("lanczos", "lobpcg", "power", "ritz"):
            return value
        raise ValueError("must be lanczos, lobpcg, power or ritz (stopped at the eigenvalue error asked)")

    @model_serializer(mode="wrap")
    def _spec(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return without_defaults(self, handler(self), _OWN_WORK_FIELDS)

    @classmethod
    def build(cls, **fields: Any) -> CurvatureConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)


def check_inputs(config: CurvatureConfig) -> None:
    """Load the run, build its model and data, check they fit: the user's error before any folder."""
    load_inputs(config.run, config.data, model=config.model, loss=config.loss, device=config.device)


def _spectrum(run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs) -> Spectrum:
    return run_dir.record_unit(
        "spectrum",
        Spectrum,
        lambda: top_eigen_of(study_operator(config, inputs), k=config.top_k, tol=config.tol,
                             method=config.method, seed=config.seed),
    )  # fmt: skip


def _trace(run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs) -> TraceEstimate:
    return run_dir.record_unit(
        "trace",
        TraceEstimate,
        lambda: trace_of(study_operator(config, inputs), config.trace_method, config.trace_samples,
                         config.seed),
    )  # fmt: skip


def _density(run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs) -> SpectralDensity:
    return run_dir.record_unit(
        "density",
        SpectralDensity,
        lambda: density_of(study_operator(config, inputs),
                           density_steps_for(inputs.model, config.density_steps), config.density_probes,
                           config.seed),
    )  # fmt: skip


def _span(config: CurvatureConfig, top_value: float) -> float:
    """Where the quadratic model rises by 1 along the top eigenvector (or the span asked for)."""
    if config.span is not None:
        return config.span
    return math.sqrt(2.0 / top_value) if top_value > 0 else 1.0


def _along(
    run_dir: RunDir, config: CurvatureConfig, inputs: StudyInputs, spectrum: Spectrum
) -> tuple[pd.DataFrame, LandscapeGrid | None]:
    """Loss along the top eigenvector (with its quadratic model) and on the top-two plane."""
    model, loss_fn, data = inputs.model, inputs.loss_fn, inputs.data
    kind = measured_operator(config)
    span = _span(config, float(spectrum.values[0]))
    line = np.linspace(-span, span, config.along_points)
    top = directions_from_vectors(
        spectrum.vectors[:, :1].T, model, kind=kind, meta={"eigenvalues": [float(spectrum.values[0])]}
    )
    arrays, _ = run_dir.unit("along-1", lambda: _points(inputs, top, line[:, None], config.device))
    center = float(arrays["loss"][len(line) // 2])
    gradient = HessianOperator(
        model, loss_fn, data, device=config.device, dtype=torch.float64, mode="jvp"
    ).gradient()
    slope = float(gradient.cpu() @ torch.as_tensor(spectrum.vectors[:, 0]))
    quadratic = center + line * slope + 0.5 * line**2 * float(spectrum.values[0])
    frame = pd.DataFrame(
        {"e": line, "loss": arrays["loss"], "accuracy": arrays["accuracy"], "quadratic": quadratic}
    )
    if spectrum.k < 2:
        return frame, None
    plane = directions_from_vectors(
        spectrum.vectors[:, :2].T,
        model,
        kind=kind,
        meta={"eigenvalues": [float(v) for v in spectrum.values[:2]]},
    )
    axis = np.linspace(-span, span, config.plane_points)
    coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    arrays, _ = run_dir.unit("along-2", lambda: _points(inputs, plane, coords, config.device))
    shape = (len(axis), len(axis))
    attrs = {"directions_kind": kind, "data": config.data, "eigenvalues": plane.meta["eigenvalues"]}
    return frame, LandscapeGrid(
        axis, axis.copy(), arrays["loss"].reshape(shape), arrays["accuracy"].reshape(shape), attrs
    )


def _points(
    inputs: StudyInputs, directions: Any, coords: np.ndarray, device: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Loss and accuracy at ``coords`` on ``directions``, as a unit's arrays."""
    loss, accuracy = evaluate_points(
        inputs.model, inputs.loss_fn, inputs.data, directions, coords, device=device
    )
    return {"loss": loss, "accuracy": accuracy}, {}


def _compute(config: CurvatureConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Each stage is a unit (spectrum, trace, density, layers, along-1, along-2); then the stored files."""
    inputs = load_inputs(config.run, config.data, model=config.model, loss=config.loss, device=config.device)
    began = time.perf_counter()
    comparing = config.operator == "all"
    stages = 1 + config.trace + config.density + config.layers + comparing + config.along
    spectrum = _spectrum(run_dir, config, inputs)
    result = CurvatureResult(spectrum, run_dir)
    ctx.report(1, stages)
    if config.trace:
        estimate = _trace(run_dir, config, inputs)
        # The budget asked for is the products; Hutch++ spends a third of it on random probes.
        result.trace = {
            "method": config.trace_method,
            "value": estimate.value,
            "stderr": estimate.stderr,
            "products": estimate.hvps,
            "random_probes": estimate.samples,
        }
        ctx.report(2, stages)
    if config.density:
        result.density = _density(run_dir, config, inputs)
        ctx.report(2 + config.trace, stages)
    if config.layers:
        result.layers = measure_layers(run_dir, config, inputs)
        ctx.report(2 + config.trace + config.density, stages)
    if comparing:
        result.comparison = compare_operators(run_dir, config, inputs)
        ctx.report(2 + config.trace + config.density + config.layers, stages)
    if config.along:
        result.along_line, result.along_plane = _along(run_dir, config, inputs, spectrum)
    _store(run_dir, result, inputs, measured_operator(config))
    run_dir.set_info(title=_title(inputs, config))
    run_dir.record_timing("curvature", time.perf_counter() - began)
    return {
        "lambda1": float(spectrum.values[0]),
        "ratio": float(spectrum.values[0] / spectrum.values[1]) if spectrum.k > 1 else None,
    }


CURVATURE: StudyKind[CurvatureConfig] = StudyKind(
    name="curvature",
    config=CurvatureConfig,
    run=_compute,
    render=render_curvature,
    default_style=Style(interactive=True),
    seeds=lambda config: {"probes": config.seed},
)


def run_curvature_study(
    config: CurvatureConfig,
    out: str | Path | None = None,
    *,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> CurvatureResult:
    """Measure the curvature of ``config.run`` into ``out`` (default ``RUN/curvature``), and draw it."""
    target = out if out is not None else Path(config.run) / "curvature"
    execution = execute(CURVATURE, config, target, style=style, force=force, progress=progress)
    return load_curvature(execution.run_dir)


def _store(run_dir: RunDir, result: CurvatureResult, inputs: StudyInputs, kind: str) -> None:
    spectrum = result.spectrum
    values = spectrum.values
    table = pd.DataFrame(
        {
            "index": np.arange(1, spectrum.k + 1),
            "eigenvalue": values,
            "residual": spectrum.residuals,
            "relative_residual": spectrum.residuals / np.maximum(np.abs(values), 1e-300),
            "method": spectrum.method,
            "hvps": spectrum.hvps,
            "seconds": spectrum.seconds,
        }
    )
    run_dir.write_table("spectrum", table)
    vectors = directions_from_vectors(
        spectrum.vectors[:, : min(2, spectrum.k)].T,
        inputs.model,
        kind=kind,
        meta={"eigenvalues": [float(v) for v in values[:2]]},
    )
    run_dir.write_bytes(EIGENVECTORS_FILE, vectors.to_bytes())
    if result.trace is not None:
        run_dir.write_table("trace", pd.DataFrame([result.trace]))
    if result.density is not None:
        arrays, meta = result.density.to_arrays()
        run_dir.write_bytes(DENSITY_FILE, encode_unit(arrays, meta))
    if result.along_line is not None:
        run_dir.write_table("along_top1", result.along_line)
    if result.along_plane is not None:
        run_dir.write_bytes("along_top2.nc", result.along_plane.to_netcdf_bytes())


def _title(inputs: StudyInputs, config: CurvatureConfig) -> str:
    c = inputs.run.config
    if c is None:
        return study_title(inputs, config.data)
    return f"{c.model} on {c.dataset}, {c.optimizer}; data {config.data}"
