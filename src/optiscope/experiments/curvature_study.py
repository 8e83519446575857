"""A curvature study of a trained run: top eigenpairs, trace, density, loss along the eigenvectors.

Each stage is one unit of the run directory (``spectrum``, ``trace``, ``density``, ``along-1``,
``along-2``), so a killed study resumes at the first missing stage. Seed 001 figs. 2 and 4-11:
the loss along the top eigenvector beside its second-order model
``L + e g.v + (e^2 / 2) lambda``, and along the top two as a heat map and in 3-D.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from optiscope.curvature import HessianOperator, SpectralDensity, Spectrum, density, top_eigen, trace
from optiscope.experiments.landscape_study import check_data_spec, select_data
from optiscope.experiments.paths_render import write_report
from optiscope.landscape.directions import directions_from_vectors
from optiscope.landscape.evaluate import evaluate_points
from optiscope.landscape.grid import LandscapeGrid
from optiscope.nets.trained import TrainedRun, load_trained
from optiscope.store import RunDir
from optiscope.validated import validated

__all__ = ["CurvatureConfig", "CurvatureResult", "run_curvature_study"]

EIGENVECTORS_FILE = "eigenvectors.safetensors"


class CurvatureConfig(BaseModel):
    """What to measure: validated once, hashed into the curvature run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run: str = Field(description="the training run directory")
    top_k: int = Field(default=2, ge=1, le=100)
    tol: float = Field(default=1e-6, gt=0, lt=1)
    method: str = "lanczos"
    data: str = "train"
    trace: bool = False
    trace_method: str = "hutch++"
    trace_samples: int = Field(default=150, ge=3, le=100_000)
    density: bool = False
    density_steps: int = Field(default=80, ge=2, le=2000)
    density_probes: int = Field(default=3, ge=1, le=100)
    along: bool = Field(
        default=True, description="loss along the top eigenvector(s) (seed 001 figs. 2, 4-11)"
    )
    along_points: int = Field(default=101, ge=3, le=2001)
    plane_points: int = Field(default=31, ge=3, le=301)
    span: float | None = Field(default=None, gt=0, description="None: where the quadratic rises by 1")
    device: str = "cpu"
    seed: int = 0

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value in ("lanczos", "lobpcg", "power"):
            return value
        raise ValueError("must be lanczos, lobpcg or power")

    @field_validator("data")
    @classmethod
    def _known_data(cls, value: str) -> str:
        return check_data_spec(value)

    @classmethod
    def build(cls, **fields: Any) -> CurvatureConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)


@dataclass
class CurvatureResult:
    """What a curvature study measured."""

    spectrum: Spectrum
    run_dir: RunDir
    trace: dict[str, float] | None = None
    density: SpectralDensity | None = None
    along_line: pd.DataFrame | None = None
    along_plane: LandscapeGrid | None = None


def _spectrum(run_dir: RunDir, config: CurvatureConfig, model: nn.Module, data: Any) -> Spectrum:
    if run_dir.has_unit("spectrum"):
        arrays, meta = run_dir.load_unit("spectrum")
        return Spectrum(
            arrays["values"],
            arrays["vectors"],
            arrays["residuals"],
            meta["method"],
            meta["hvps"],
            meta["seconds"],
            meta["tol"],
            meta.get("meta", {}),
        )
    spectrum = top_eigen(
        model,
        nn.CrossEntropyLoss(),
        data,
        k=config.top_k,
        tol=config.tol,
        method=config.method,
        device=config.device,
        seed=config.seed,
        dtype=torch.float64,
    )
    run_dir.save_unit(
        "spectrum",
        {"values": spectrum.values, "vectors": spectrum.vectors, "residuals": spectrum.residuals},
        {
            "method": spectrum.method,
            "hvps": spectrum.hvps,
            "seconds": spectrum.seconds,
            "tol": spectrum.tol,
            "meta": _json_safe(spectrum.meta),
        },
    )
    return spectrum


def _json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool | list | type(None))}


def _trace(run_dir: RunDir, config: CurvatureConfig, model: nn.Module, data: Any) -> dict[str, float]:
    if not run_dir.has_unit("trace"):
        estimate = trace(
            model,
            nn.CrossEntropyLoss(),
            data,
            method=config.trace_method,
            samples=config.trace_samples,
            seed=config.seed,
            device=config.device,
            dtype=torch.float64,
        )
        row = {
            "method": config.trace_method,
            "value": float(estimate.value),
            "stderr": float(estimate.stderr),
            "samples": int(estimate.samples),
            "hvps": int(estimate.hvps),
        }
        run_dir.save_unit("trace", {}, row)
    return run_dir.load_unit("trace")[1]


def _density(run_dir: RunDir, config: CurvatureConfig, model: nn.Module, data: Any) -> SpectralDensity:
    if run_dir.has_unit("density"):
        arrays, meta = run_dir.load_unit("density")
        return SpectralDensity(
            arrays["grid"], arrays["density"], arrays["nodes"], arrays["weights"], meta["sigma"], meta["hvps"]
        )
    result = density(
        model,
        nn.CrossEntropyLoss(),
        data,
        steps=config.density_steps,
        probes=config.density_probes,
        seed=config.seed,
        device=config.device,
        dtype=torch.float64,
    )
    arrays = {
        "grid": result.grid,
        "density": result.density,
        "nodes": result.nodes,
        "weights": result.weights,
    }
    run_dir.save_unit("density", arrays, {"sigma": float(result.sigma), "hvps": int(result.hvps)})
    return result


def _span(config: CurvatureConfig, top_value: float) -> float:
    """Where the quadratic model rises by 1 along the top eigenvector (or the span asked for)."""
    if config.span is not None:
        return config.span
    return math.sqrt(2.0 / top_value) if top_value > 0 else 1.0


def _along(
    run_dir: RunDir, config: CurvatureConfig, trained: TrainedRun, data: Any, spectrum: Spectrum
) -> tuple[pd.DataFrame, LandscapeGrid | None]:
    """Loss along the top eigenvector (with its quadratic model) and on the top-two plane."""
    model, loss_fn = trained.model, nn.CrossEntropyLoss()
    span = _span(config, float(spectrum.values[0]))
    line = np.linspace(-span, span, config.along_points)
    top = directions_from_vectors(
        spectrum.vectors[:, :1].T, model, kind="hessian", meta={"eigenvalues": [float(spectrum.values[0])]}
    )
    if not run_dir.has_unit("along-1"):
        loss, accuracy = evaluate_points(model, loss_fn, data, top, line[:, None], device=config.device)
        run_dir.save_unit("along-1", {"loss": loss, "accuracy": accuracy})
    arrays, _ = run_dir.load_unit("along-1")
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
        kind="hessian",
        meta={"eigenvalues": [float(v) for v in spectrum.values[:2]]},
    )
    axis = np.linspace(-span, span, config.plane_points)
    if not run_dir.has_unit("along-2"):
        coords = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
        loss, accuracy = evaluate_points(model, loss_fn, data, plane, coords, device=config.device)
        run_dir.save_unit("along-2", {"loss": loss, "accuracy": accuracy})
    arrays, _ = run_dir.load_unit("along-2")
    shape = (len(axis), len(axis))
    attrs = {"directions_kind": "hessian", "data": config.data, "eigenvalues": plane.meta["eigenvalues"]}
    return frame, LandscapeGrid(
        axis, axis.copy(), arrays["loss"].reshape(shape), arrays["accuracy"].reshape(shape), attrs
    )


def run_curvature_study(
    config: CurvatureConfig,
    out: str | Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> CurvatureResult:
    """Measure the curvature of ``config.run`` into ``out`` (default ``RUN/curvature``), then render."""
    trained = load_trained(config.run, device=config.device)
    out = Path(out) if out is not None else Path(config.run) / "curvature"
    run_dir = RunDir.open(out, kind="curvature", spec=config.model_dump(mode="json"), force=force)
    data = select_data(trained, config.data)
    began = time.perf_counter()
    stages = 1 + config.trace + config.density + config.along
    spectrum = _spectrum(run_dir, config, trained.model, data)
    result = CurvatureResult(spectrum, run_dir)
    done = 1
    if progress is not None:
        progress(done, stages)
    if config.trace:
        result.trace = _trace(run_dir, config, trained.model, data)
        done += 1
        if progress is not None:
            progress(done, stages)
    if config.density:
        result.density = _density(run_dir, config, trained.model, data)
        done += 1
        if progress is not None:
            progress(done, stages)
    if config.along:
        result.along_line, result.along_plane = _along(run_dir, config, trained, data, spectrum)
    _store(run_dir, result, trained)
    from optiscope.experiments.curvature_render import render_curvature

    render_curvature(result, title=_title(trained, config))
    run_dir.record_timing("curvature", time.perf_counter() - began)
    run_dir.complete(
        lambda1=float(spectrum.values[0]),
        ratio=float(spectrum.values[0] / spectrum.values[1]) if spectrum.k > 1 else None,
    )
    write_report(run_dir)
    if out.parent.resolve() == Path(config.run).resolve():
        write_report(trained.run_dir)
    return result


def _store(run_dir: RunDir, result: CurvatureResult, trained: TrainedRun) -> None:
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
        trained.model,
        kind="hessian",
        meta={"eigenvalues": [float(v) for v in values[:2]]},
    )
    run_dir.write_bytes(EIGENVECTORS_FILE, vectors.to_bytes())
    if result.trace is not None:
        run_dir.write_table("trace", pd.DataFrame([result.trace]))
    if result.along_line is not None:
        run_dir.write_table("along_top1", result.along_line)
    if result.along_plane is not None:
        run_dir.write_bytes("along_top2.nc", result.along_plane.to_netcdf_bytes())


def _title(trained: TrainedRun, config: CurvatureConfig) -> str:
    c = trained.config
    return f"{c.model} on {c.dataset}, {c.optimizer}; data {config.data}"
