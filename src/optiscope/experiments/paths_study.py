"""A paths study: optimizers on a surface, from a config to a finished run directory.

config (``PathsConfig``) -> run (one unit per optimizer config and chunk of starts) -> store
(``runs.parquet``: every run; ``paths.parquet``: the full paths of the kept starts;
``basins.parquet``: every start of a grid; the surface grid) -> render
(:mod:`optiscope.experiments.paths_render`, from the stored tables). A killed study resumes from
its finished units; a finished one is a cache hit, and new figure options only re-draw it.

Memory and disk stay bounded as a study grows: a unit stores each run's outcome (final point and
loss, steps, status, steps to tolerance) but the full path only of the starts ``keep_paths``
keeps, and each unit's rows are appended to the tables as one row group. The peak memory is that
of one unit, whatever the number of runs; the basins need only the final points.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from optiscope.experiments.execute import Execution, execute
from optiscope.experiments.paths_render import GRID_FILE, GRID_RESOLUTION, load_paths, render_paths
from optiscope.experiments.paths_surface import study_surface
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind
from optiscope.optimizers import OptimizerSpec, get_entry, parse_spec
from optiscope.paths import (
    RUN_STATUSES,
    EngineOptions,
    PathSet,
    TableLayout,
    basin_map,
    basins_frame,
    first_step_at_or_below,
    run_block,
    spread_starts,
    start_grid,
)
from optiscope.paths.outcomes import RULE_TEXT
from optiscope.paths.summary import outcomes_text
from optiscope.store import RunDir
from optiscope.store.table_writer import TableWriter, frame_schema
from optiscope.surfaces import Surface
from optiscope.validated import validated

__all__ = [
    "KEEP_ALL_UP_TO",
    "PATHS",
    "PathsConfig",
    "StudyResult",
    "kept_starts",
    "load_paths",
    "run_paths_study",
]

KEEP_ALL_UP_TO = 400
"""Studies with at most this many starts per config keep every full path by default."""
_DEFAULT_SAMPLE = "sample:64"
_KEEP_PATHS = re.compile(r"all|none|sample:[1-9][0-9]{0,8}")


class PathsConfig(BaseModel):
    """What to run (only what changes the numbers): frozen, validated once, the run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    surface: str = Field(description="surface name or spec, e.g. 'f4:noise=lookup' or 'x**2+y**2'")
    optimizers: tuple[str, ...] = Field(min_length=1, description="optimizer specs, e.g. 'adam:lr=0.1'")
    starts: tuple[tuple[float, float], ...] | None = Field(default=None, description="explicit start points")
    start_grid: int | None = Field(default=None, ge=2, le=1000, description="N: an N x N grid of starts")
    steps: int = Field(default=100, gt=0, le=1_000_000)
    tol: float = Field(default=1e-8, ge=0, description="converged: |gradient| <= tol for window + 1 steps")
    window: int = Field(
        default=10, ge=0, le=1000, description="steps a convergence rule must hold beyond one"
    )
    escape: float = Field(default=10.0, gt=1, description="a run stops past this many times the domain")
    domain: tuple[float, float, float, float] | None = Field(
        default=None, description="XMIN, XMAX, YMIN, YMAX: the window (default: the surface's own)"
    )
    grad_noise: float = Field(default=0.0, ge=0)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float64"
    batched: bool = True
    chunk: int = Field(default=2500, gt=0, description="start points per unit of work")
    loss_tolerance: float = Field(
        default=1e-3, gt=0, description="steps-to-tolerance: loss within this of the minimum"
    )
    keep_paths: str | None = Field(
        default=None,
        validate_default=True,
        description="full paths stored: 'all', 'sample:N' (N starts spread over the start grid, the "
        f"same for every config) or 'none'; default all up to {KEEP_ALL_UP_TO} starts per config, "
        f"else {_DEFAULT_SAMPLE}",
    )

    @field_validator("optimizers")
    @classmethod
    def _canonical_optimizers(cls, specs: tuple[str, ...]) -> tuple[str, ...]:
        canonical = tuple(parse_spec(spec).to_string() for spec in specs)
        repeated = sorted({spec for spec in canonical if canonical.count(spec) > 1})
        if repeated:
            raise ValueError(f"optimizer spec given twice: {', '.join(repeated)}")
        return canonical

    @model_serializer(mode="wrap")
    def _spec(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = handler(self)
        if fields.get("domain") is None:  # runs that predate --domain keep their cache keys
            fields.pop("domain", None)
        return fields

    @field_validator("domain")
    @classmethod
    def _ordered_domain(
        cls, domain: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if domain is None:
            return None
        x_min, x_max, y_min, y_max = domain
        if not all(math.isfinite(value) for value in domain) or x_min >= x_max or y_min >= y_max:
            raise ValueError(
                f"must be finite XMIN,XMAX,YMIN,YMAX with XMIN < XMAX and YMIN < YMAX, got {domain}"
            )
        return domain

    @field_validator("starts")
    @classmethod
    def _finite_starts(
        cls, starts: tuple[tuple[float, float], ...] | None
    ) -> tuple[tuple[float, float], ...] | None:
        if starts is not None and not all(math.isfinite(value) for point in starts for value in point):
            raise ValueError("start points must be finite")
        return starts

    @field_validator("keep_paths")
    @classmethod
    def _keep_paths(cls, keep: str | None, info: ValidationInfo) -> str:
        """The explicit choice checked, or the default rule applied, so the stored spec (and the
        cache key) says which paths a run kept."""
        if keep is None:
            return "all" if _count_starts(info.data) <= KEEP_ALL_UP_TO else _DEFAULT_SAMPLE
        if not _KEEP_PATHS.fullmatch(keep):
            raise ValueError(
                f"must be 'all', 'none' or 'sample:N' with N from 1 to 999999999 (digits only), got {keep!r}"
            )
        return keep

    @model_validator(mode="after")
    def _one_kind_of_start(self) -> PathsConfig:
        if self.starts is not None and self.start_grid is not None:
            raise ValueError("give either starts or start_grid, not both")
        return self

    @classmethod
    def build(cls, **fields: object) -> PathsConfig:
        """Validate ``fields`` into a study, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)

    def engine_options(self) -> EngineOptions:
        return EngineOptions(
            steps=self.steps,
            tol=self.tol,
            window=self.window,
            escape=self.escape,
            grad_noise=self.grad_noise,
            seed=self.seed,
            dtype=self.dtype,
            batched=self.batched,
        )


@dataclass
class StudyResult:
    """A finished study: where it is stored, the runs whose paths it kept, and whether it was recomputed."""

    run_dir: RunDir
    paths: PathSet
    cached: bool
    execution: Execution


def _count_starts(fields: Mapping[str, Any]) -> int:
    """Starts per config of (validated) config fields: a grid's, the explicit ones, or one."""
    if fields.get("start_grid") is not None:
        return int(fields["start_grid"]) ** 2
    if fields.get("starts") is not None:
        return len(fields["starts"])
    return 1


def kept_starts(config: PathsConfig, n_starts: int) -> np.ndarray:
    """Indices of the starts whose full paths ``config`` keeps (the same for every optimizer)."""
    if config.keep_paths == "all":
        return np.arange(n_starts)
    if config.keep_paths == "none":
        return np.zeros(0, dtype=np.int64)
    count = int(str(config.keep_paths).removeprefix("sample:"))
    return spread_starts(n_starts, count, grid=config.start_grid)


def _path_dtype(config: PathsConfig) -> str:
    """Kept paths are stored at the engine's precision when every path is kept (they are then the
    study's whole record), in float32 when they are a sample to draw (float64 adds nothing there)."""
    return config.dtype if config.keep_paths == "all" else "float32"


def _starts_of(
    config: PathsConfig, surface: Surface
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    if config.start_grid is not None:
        xs, ys, starts = start_grid(surface, config.start_grid)
        return starts, (xs, ys)
    if config.starts is not None:
        return np.asarray(config.starts, dtype=np.float64), None
    return np.asarray([surface.start], dtype=np.float64), None


@dataclass(frozen=True)
class _Plan:
    """What every unit of a study shares, derived once from its config."""

    surface: Surface
    specs: list[OptimizerSpec]
    starts: np.ndarray
    grid_axes: tuple[np.ndarray, np.ndarray] | None
    options: EngineOptions
    kept: np.ndarray
    layout: TableLayout
    target: float | None  # the loss within tolerance of the minimum; None when it is unknown
    chunk: int

    @classmethod
    def of(cls, config: PathsConfig) -> _Plan:
        surface = study_surface(config.model_dump())
        starts, grid_axes = _starts_of(config, surface)
        specs = [parse_spec(text) for text in config.optimizers]
        layout = TableLayout(
            specs=tuple(spec.to_string() for spec in specs),
            optimizers=tuple(spec.name for spec in specs),
            starts=starts,
            path_dtype=_path_dtype(config),
        )
        reference, _ = tolerance_reference(surface)
        return cls(
            surface=surface,
            specs=specs,
            starts=starts,
            grid_axes=grid_axes,
            options=config.engine_options(),
            kept=kept_starts(config, len(starts)),
            layout=layout,
            target=None if reference is None else reference + config.loss_tolerance,
            chunk=config.chunk,
        )

    @property
    def chunks(self) -> list[slice]:
        total = len(self.starts)
        return [slice(lo, min(lo + self.chunk, total)) for lo in range(0, total, self.chunk)]

    def unit(self, run_dir: RunDir, config: int, number: int, rows: slice) -> dict[str, np.ndarray]:
        """Config ``config`` from the starts ``rows``: computed, or read back when a run was killed."""
        kept = self.kept[(self.kept >= rows.start) & (self.kept < rows.stop)] - rows.start

        def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
            block = run_block(
                self.surface,
                self.specs[config],
                self.starts[rows],
                self.options,
                run_ids=np.arange(rows.start, rows.stop) + config * len(self.starts),
                total_runs=len(self.specs) * len(self.starts),
            )
            meta = {"spec": self.specs[config].to_string(), "starts": [rows.start, rows.stop]}
            return _unit_arrays(block, kept, self.layout.path_dtype, self.target), meta

        arrays, _ = run_dir.unit(f"config{config:03d}-chunk{number:04d}", compute)
        return arrays


def _unit_arrays(
    block: dict[str, np.ndarray], kept: np.ndarray, path_dtype: str, target: float | None
) -> dict[str, np.ndarray]:
    """What a unit stores of a :func:`run_block` result: every run's outcome, the kept runs' paths.

    ``kept`` are row indices into the block; ``target`` is the loss that counts as within
    tolerance of the minimum (None: unknown minimum, no run reaches it).
    """
    last = block["n_steps"]
    rows = np.arange(len(last))
    never = np.full(len(last), -1)
    return {
        "final_points": block["points"][rows, last].astype(np.float64),
        "final_loss": block["losses"][rows, last].astype(np.float64),
        "n_steps": last,
        "status": block["status"],
        "rule": block["rule"],
        "outcome_step": block["outcome_step"],
        "steps_to_tolerance": never if target is None else first_step_at_or_below(block["losses"], target),
        "kept": kept,
        "points": block["points"][kept].astype(path_dtype),
        "losses": block["losses"][kept].astype(path_dtype),
        "grad_norms": block["grad_norms"][kept].astype(path_dtype),
    }


class _Tables:
    """The study's tables, each open for appending (one row group per piece) until ``stack`` closes;
    then each appears in the run directory at once."""

    def __init__(self, run_dir: RunDir, stack: ExitStack) -> None:
        self._run_dir, self._stack = run_dir, stack
        self._writers: dict[str, TableWriter] = {}

    def append(self, name: str, rows: pd.DataFrame) -> None:
        """Append ``rows`` to ``<name>.parquet``; its columns are typed by the first rows given."""
        if name not in self._writers:
            writer = self._run_dir.table_writer(name, frame_schema(rows))
            self._writers[name] = self._stack.enter_context(writer)
        self._writers[name].write(rows)

    def add_unit(
        self, layout: TableLayout, config: int, rows: slice, arrays: Mapping[str, np.ndarray]
    ) -> None:
        """A unit's rows: one per run in ``runs``, one per recorded step of its kept runs in ``paths``."""
        starts = np.arange(rows.start, rows.stop)
        kept = arrays["kept"]
        self.append("runs", layout.runs_rows(
            config, starts, status=arrays["status"], n_steps=arrays["n_steps"],
            final_loss=arrays["final_loss"], final_points=arrays["final_points"],
            steps_to_tolerance=arrays["steps_to_tolerance"], rule=arrays["rule"],
            outcome_step=arrays["outcome_step"],
        ))  # fmt: skip
        self.append("paths", layout.path_rows(
            config, starts[kept], points=arrays["points"], losses=arrays["losses"],
            grad_norms=arrays["grad_norms"], n_steps=arrays["n_steps"][kept],
        ))  # fmt: skip


class _Outcome:
    """Where one config's runs ended, gathered over its chunks: all a basin map needs."""

    def __init__(self, n_starts: int) -> None:
        self.final_points = np.empty((n_starts, 2))
        self.status = np.empty(n_starts, dtype=np.int64)
        self.n_steps = np.empty(n_starts, dtype=np.int64)

    def fill(self, rows: slice, arrays: Mapping[str, np.ndarray]) -> None:
        self.final_points[rows] = arrays["final_points"]
        self.status[rows] = arrays["status"]
        self.n_steps[rows] = arrays["n_steps"]

    def basin_rows(self, plan: _Plan, config: int, grid_axes: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
        """This config's rows of ``basins.parquet`` (labels dictionary-encoded)."""
        diverged = self.status == RUN_STATUSES.index("diverged")
        label = plan.specs[config].label
        basins = basin_map(label, self.final_points, diverged, self.n_steps, plan.surface, *grid_axes)
        frame = basins_frame([basins])
        labels = list(dict.fromkeys(spec.label for spec in plan.specs))
        frame["label"] = pd.Categorical(frame["label"], categories=labels)
        return frame


def compute_paths(config: PathsConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    """Run every optimizer config from every start, unit by unit, appending each unit's rows to the
    stored tables (``runs``, ``paths``, and per config ``basins`` for a start grid)."""
    plan = _Plan.of(config)
    chunks = plan.chunks
    statuses = np.zeros(len(RUN_STATUSES), dtype=np.int64)
    began = time.perf_counter()
    with ExitStack() as stack:
        tables = _Tables(run_dir, stack)
        for index in range(len(plan.specs)):
            outcome = _Outcome(len(plan.starts))
            for number, rows in enumerate(chunks):
                arrays = plan.unit(run_dir, index, number, rows)
                tables.add_unit(plan.layout, index, rows, arrays)
                outcome.fill(rows, arrays)
                ctx.report(index * len(chunks) + number + 1, len(plan.specs) * len(chunks))
            statuses += np.bincount(outcome.status, minlength=len(RUN_STATUSES))
            if plan.grid_axes is not None:
                tables.append("basins", outcome.basin_rows(plan, index, plan.grid_axes))
    run_dir.record_timing("compute", time.perf_counter() - began)
    _store_surface_grid(run_dir, plan.surface)
    run_dir.write_text("findings.md", outcomes_text(run_dir.read_table("runs"), RULE_TEXT))
    run_dir.set_info(
        tolerance_reference=tolerance_reference(plan.surface)[1],
        surface=plan.surface.describe(),
        labels=[spec.label for spec in plan.specs],
        batched=[bool(plan.options.batched and get_entry(spec.name).elementwise) for spec in plan.specs],
    )
    counts = {name: int(count) for name, count in zip(RUN_STATUSES, statuses, strict=True) if count}
    return {
        "runs": len(plan.specs) * len(plan.starts),
        "statuses": counts,
        "paths_kept": len(plan.specs) * len(plan.kept),
    }


def tolerance_reference(surface: Surface) -> tuple[float | None, str]:
    """The loss ``steps_to_tolerance`` counts from, and what it is: the surface's known minimum
    value, or (no finite minimum known: seed 004's f1-f3, noisy surfaces) its best value on the
    drawn grid of its domain."""
    if surface.minimum_value is not None:
        return surface.minimum_value, f"the known minimum value {surface.minimum_value:.6g}"
    _, _, zs = surface.grid(GRID_RESOLUTION)
    finite = zs[torch.isfinite(zs)]
    if finite.numel() == 0:
        return None, "none: the surface has no finite value on its grid"
    best = float(finite.min())
    return best, (
        f"the best value on a {GRID_RESOLUTION} x {GRID_RESOLUTION} grid of the domain, {best:.6g} "
        "(no finite minimum is known)"
    )


def _store_surface_grid(run_dir: RunDir, surface: Surface) -> None:
    xs, ys, zs = surface.grid(GRID_RESOLUTION)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, xs=xs.numpy(), ys=ys.numpy(), zs=zs.numpy())
    run_dir.write_bytes(GRID_FILE, buffer.getvalue())


PATHS: StudyKind[PathsConfig] = StudyKind(
    name="paths",
    config=PathsConfig,
    run=compute_paths,
    render=render_paths,
    seeds=lambda config: {"engine": config.seed},
)


def run_paths_study(
    config: PathsConfig,
    out: str | Path,
    *,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> StudyResult:
    """Run (or resume, or fetch from cache) a paths study into ``out``, and draw it with ``style``."""
    execution = execute(PATHS, config, out, style=style, force=force, progress=progress)
    return StudyResult(execution.run_dir, load_paths(execution.run_dir), execution.cached, execution)
