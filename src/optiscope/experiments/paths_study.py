"""A paths study: optimizers on a surface, from a spec to a finished run directory.

spec (``PathsStudy``) -> compute (one unit per optimizer config and chunk of starts) -> store
(units, ``paths.parquet``, ``runs.parquet``, the surface grid) -> render (figures).
A killed study resumes from its finished units; a finished one is a cache hit.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from optiscope.experiments.paths_render import GRID_FILE, FigureOptions, render_paths_figures, write_report
from optiscope.optimizers import parse_spec
from optiscope.paths import (
    EngineOptions,
    PathSet,
    assemble,
    basin_maps,
    basins_frame,
    run_block,
    start_grid,
)
from optiscope.store import RunDir
from optiscope.surfaces import Surface
from optiscope.surfaces import get as get_surface
from optiscope.validated import validated

__all__ = ["PathsStudy", "StudyResult", "load_paths", "rerender_paths_study", "run_paths_study"]

ProgressCallback = Callable[[int, int], None]


class PathsStudy(BaseModel):
    """What to run: frozen, validated once, and hashed into the run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    surface: str = Field(description="surface name or spec, e.g. 'f4:noise=lookup' or 'x**2+y**2'")
    optimizers: tuple[str, ...] = Field(min_length=1, description="optimizer specs, e.g. 'adam:lr=0.1'")
    starts: tuple[tuple[float, float], ...] | None = Field(default=None, description="explicit start points")
    start_grid: int | None = Field(default=None, ge=2, le=1000, description="N: an N x N grid of starts")
    steps: int = Field(default=100, gt=0, le=1_000_000)
    tol: float = Field(default=1e-8, ge=0)
    escape: float = Field(default=10.0, gt=1)
    grad_noise: float = Field(default=0.0, ge=0)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float64"
    batched: bool = True
    chunk: int = Field(default=2500, gt=0, description="start points per unit of work")
    grid_resolution: int = Field(default=200, ge=10, le=2000, description="surface grid drawn in figures")
    loss_tolerance: float = Field(
        default=1e-3, gt=0, description="steps-to-tolerance: loss within this of the minimum"
    )
    three_d: bool = Field(default=False, description="draw the 3-D surface with the paths")
    animate: bool = Field(default=False, description="write GIF animations")
    interactive: bool = Field(default=False, description="write interactive plotly figures")
    frames: int = Field(default=60, ge=2, le=600, description="frames per animation")
    fps: int = Field(default=15, ge=1, le=60, description="animation frames per second")
    video: Literal["gif", "mp4"] = Field(
        default="gif", description="animation format (mp4 needs imageio-ffmpeg)"
    )

    @field_validator("optimizers")
    @classmethod
    def _canonical_optimizers(cls, specs: tuple[str, ...]) -> tuple[str, ...]:
        canonical = tuple(parse_spec(spec).to_string() for spec in specs)
        repeated = sorted({spec for spec in canonical if canonical.count(spec) > 1})
        if repeated:
            raise ValueError(f"optimizer spec given twice: {', '.join(repeated)}")
        return canonical

    @field_validator("starts")
    @classmethod
    def _finite_starts(
        cls, starts: tuple[tuple[float, float], ...] | None
    ) -> tuple[tuple[float, float], ...] | None:
        if starts is not None and not all(math.isfinite(value) for point in starts for value in point):
            raise ValueError("start points must be finite")
        return starts

    @model_validator(mode="after")
    def _one_kind_of_start(self) -> PathsStudy:
        if self.starts is not None and self.start_grid is not None:
            raise ValueError("give either starts or start_grid, not both")
        return self

    @classmethod
    def build(cls, **fields: object) -> PathsStudy:
        """Validate ``fields`` into a study, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)

    def figure_options(self) -> FigureOptions:
        return FigureOptions(
            three_d=self.three_d,
            animate=self.animate,
            interactive=self.interactive,
            frames=self.frames,
            fps=self.fps,
            video=self.video,
        )

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            steps=self.steps,
            tol=self.tol,
            escape=self.escape,
            grad_noise=self.grad_noise,
            seed=self.seed,
            dtype=self.dtype,
            batched=self.batched,
        )


@dataclass
class StudyResult:
    """A finished study: where it is stored, what it holds, and whether it was recomputed."""

    run_dir: RunDir
    paths: PathSet
    cached: bool
    figures: list[Path]


def _starts_of(
    study: PathsStudy, surface: Surface
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    if study.start_grid is not None:
        xs, ys, starts = start_grid(surface, study.start_grid)
        return starts, (xs, ys)
    if study.starts is not None:
        return np.asarray(study.starts, dtype=np.float64), None
    return np.asarray([surface.start], dtype=np.float64), None


def run_paths_study(
    study: PathsStudy,
    out: str | Path,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> StudyResult:
    """Run (or resume, or fetch from cache) a paths study into the run directory ``out``."""
    surface = get_surface(study.surface)
    starts, grid_axes = _starts_of(study, surface)
    options = study.engine_options()
    specs = [parse_spec(text) for text in study.optimizers]
    spec_dict = study.model_dump(mode="json")
    run_dir = RunDir.open(out, kind="paths", spec=spec_dict, seeds={"engine": study.seed}, force=force)
    if run_dir.cached:
        return StudyResult(run_dir, load_paths(run_dir), cached=True, figures=[])

    began = time.perf_counter()
    chunks = [slice(lo, min(lo + study.chunk, len(starts))) for lo in range(0, len(starts), study.chunk)]
    total_units, done = len(specs) * len(chunks), 0
    blocks = []
    with run_dir:
        for index, spec in enumerate(specs):
            parts = []
            for number, rows in enumerate(chunks):
                unit = f"config{index:03d}-chunk{number:04d}"
                if run_dir.has_unit(unit):
                    arrays, _ = run_dir.load_unit(unit)
                else:
                    run_ids = np.arange(rows.start, rows.stop) + index * len(starts)
                    arrays = run_block(
                        surface,
                        spec,
                        starts[rows],
                        options,
                        run_ids=run_ids,
                        total_runs=len(specs) * len(starts),
                    )
                    run_dir.save_unit(
                        unit, arrays, {"spec": spec.to_string(), "starts": [rows.start, rows.stop]}
                    )
                parts.append(arrays)
                done += 1
                if progress is not None:
                    progress(done, total_units)
            blocks.append({key: np.concatenate([part[key] for part in parts]) for key in parts[0]})
        run_dir.record_timing("compute", time.perf_counter() - began)

        paths = assemble(surface.name, specs, starts, blocks, options)
        run_dir.write_table("paths", paths.to_frame())
        run_dir.write_table("runs", _runs_with_tolerance(paths, surface, study.loss_tolerance))
        maps = basin_maps(paths, surface, *grid_axes) if grid_axes is not None else []
        if maps:
            run_dir.write_table("basins", basins_frame(maps))
        xs, ys, zs = surface.grid(study.grid_resolution)
        buffer = io.BytesIO()
        np.savez(buffer, xs=xs.numpy(), ys=ys.numpy(), zs=zs.numpy())
        run_dir.write_bytes(GRID_FILE, buffer.getvalue())
        run_dir.set_info(
            surface=surface.describe(),
            labels=[spec.label for spec in specs],
            batched=paths.info["batched"],
        )

        rendered = time.perf_counter()
        figures = render_paths_figures(run_dir, paths, surface, maps, study.figure_options())
        run_dir.record_timing("render", time.perf_counter() - rendered)
        run_dir.complete(runs=paths.n_runs, statuses=_count(paths.status))
        write_report(run_dir)
    return StudyResult(run_dir, paths, cached=False, figures=figures)


def _count(values: list[str]) -> dict[str, int]:
    return {value: values.count(value) for value in sorted(set(values))}


def _runs_with_tolerance(paths: PathSet, surface: Surface, tolerance: float) -> pd.DataFrame:
    """The runs table plus ``steps_to_tolerance``: the first step within ``tolerance`` of the
    surface's known minimum value (missing when never reached or when the minimum is unknown)."""
    frame = paths.runs_frame()
    reached = pd.array([pd.NA] * paths.n_runs, dtype="Int64")
    if surface.minimum_value is not None:
        steps = paths.steps_to_reach(surface.minimum_value + tolerance)
        reached = pd.array(np.where(steps >= 0, steps, 0), dtype="Int64")
        reached[steps < 0] = pd.NA
    frame["steps_to_tolerance"] = reached
    return frame


def load_paths(run_dir: RunDir) -> PathSet:
    """Read a stored study's paths back (no recomputation)."""
    spec = run_dir.spec
    manifest = run_dir.manifest
    return PathSet.from_frames(
        run_dir.read_table("paths"),
        run_dir.read_table("runs"),
        surface=manifest.get("surface", {}).get("name", spec["surface"]),
        labels=manifest.get("labels"),
        steps=int(spec["steps"]),
        info={"batched": manifest.get("batched")},
    )


def rerender_paths_study(run_dir: RunDir) -> list[Path]:
    """Redraw a stored study's figures and report from its tables (paths are not recomputed).

    Basin labels are re-derived from the stored final points, which is bookkeeping, not
    optimization.
    """
    study = PathsStudy.build(**run_dir.spec)
    surface = get_surface(study.surface)
    paths = load_paths(run_dir)
    maps = []
    if study.start_grid is not None:
        xs, ys, _ = start_grid(surface, study.start_grid)
        maps = basin_maps(paths, surface, xs, ys)
    figures = render_paths_figures(run_dir, paths, surface, maps, study.figure_options())
    write_report(run_dir)
    return figures
