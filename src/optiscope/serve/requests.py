"""Request bodies of the playground's API, and their validation into jobs for the engine.

Bodies are checked twice, as on the command line: pydantic checks their shape (field names and
JSON types), then the library's own parsers check their meaning: :func:`optiscope.surfaces.get`
for the surface (names, options and the whitelisted expression parser),
:func:`optiscope.optimizers.parse_spec` for every optimizer, :class:`optiscope.paths.EngineOptions`
for steps, tolerance and noise, :func:`optiscope.paths.start_grid` for a basin grid. Every refusal
is a :class:`~optiscope.errors.SpecError` whose message names the problem.

An optimizer named by import path (``pkg.mod:MyOpt``) would make the server import that module,
so it is refused here, before any parser sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from optiscope.errors import SpecError
from optiscope.optimizers import OptimizerSpec, parse_spec
from optiscope.paths import EngineOptions, start_grid
from optiscope.serve.limits import ServeLimits
from optiscope.spec_syntax import parse_named_args
from optiscope.surfaces import Surface
from optiscope.surfaces import get as get_surface
from optiscope.user_imports import is_import_path

__all__ = [
    "BasinsBody",
    "CheckBody",
    "ExportBody",
    "PathsBody",
    "PathsJob",
    "SurfaceBody",
    "TraceBody",
    "TraceJob",
    "basins_job",
    "checked_optimizer",
    "export_job",
    "paths_job",
    "surface_of",
    "trace_job",
]

NoiseMode = Literal["none", "lookup", "smooth"]
SpecText = Annotated[str, StringConstraints(max_length=1000)]
# Shape checks only: the server's limits (far lower) refuse big lists with a message naming them.
_MAX_ITEMS = 10_000
_DEFAULT_TOL = EngineOptions().tol


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SurfaceBody(_Body):
    """A surface: a registered name, a spec (``f4:noise=lookup``) or an expression in x and y."""

    surface: str = Field(min_length=1, max_length=600)
    noise: NoiseMode | None = Field(default=None, description="as `optiscope paths --noise`")


class _RunBody(SurfaceBody):
    optimizers: list[SpecText] = Field(
        min_length=1, max_length=_MAX_ITEMS, description="optimizer specs, e.g. 'adam:lr=0.1'"
    )
    steps: int = Field(default=100, description="optimizer steps per run")
    grad_noise: float = Field(default=0.0, description="std of Gaussian noise added to every gradient")
    seed: int = 0
    tol: float = _DEFAULT_TOL


class PathsBody(_RunBody):
    """``POST /api/paths``: every optimizer from every start (default: the surface's own start)."""

    starts: list[tuple[float, float]] | None = Field(default=None, max_length=_MAX_ITEMS)


class BasinsBody(_RunBody):
    """``POST /api/basins``: every optimizer from a ``grid x grid`` grid of starts over the domain."""

    grid: int = 10


class ExportBody(PathsBody):
    """``POST /api/export``: a paths request, or a basin request when ``grid`` is given."""

    grid: int | None = None


class TraceBody(SurfaceBody):
    """``POST /api/trace``: one optimizer's gradient, update and state at every step."""

    optimizer: SpecText
    start: tuple[float, float] | None = None
    steps: int = 50


class CheckBody(_Body):
    """``POST /api/check``: is this optimizer spec valid, constructor checks included?"""

    optimizer: SpecText


@dataclass(frozen=True)
class PathsJob:
    """A validated run request: what the engine is given.

    Attributes:
        surface_text: the surface as the user gave it (without the noise option).
        noise: the ``--noise`` mode, or None.
        surface: the surface built from both.
        specs: the optimizer configs, validated.
        starts: start points, shape ``(n, 2)``.
        options: the engine options (steps, tolerance, gradient noise, seed).
        grid: ``N`` for a basin map's ``N x N`` start grid, else None.
        grid_axes: the grid's ``(xs, ys)``, else None.
    """

    surface_text: str
    noise: str | None
    surface: Surface
    specs: tuple[OptimizerSpec, ...]
    starts: np.ndarray
    options: EngineOptions
    grid: int | None = None
    grid_axes: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def surface_spec(self) -> str:
        return surface_spec(self.surface_text, self.noise)


@dataclass(frozen=True)
class TraceJob:
    """A validated teaching-trace request."""

    surface: Surface
    spec: OptimizerSpec
    start: tuple[float, float]
    steps: int


def surface_spec(surface: str, noise: str | None) -> str:
    """The surface spec with the noise option added, as ``optiscope paths --noise`` adds it."""
    return surface if noise is None else f"{surface}{',' if ':' in surface else ':'}noise={noise}"


def surface_of(body: SurfaceBody) -> Surface:
    """The surface a body names (registry name, spec or expression), built by the library."""
    return get_surface(surface_spec(body.surface, body.noise))


def checked_optimizer(text: str) -> OptimizerSpec:
    """Parse one optimizer spec from the registry; an import path is refused.

    Raises:
        SpecError: an import path, or whatever :func:`parse_spec` refuses (unknown name, bad
            hyperparameter, malformed text).
    """
    name, _ = parse_named_args(text)
    if is_import_path(name):
        raise SpecError(
            f"optimizer {name!r}: user optimizers by import path are not accepted over HTTP; "
            "pick one from the registry (GET /api/optimizers), or run yours with the CLI or Python API"
        )
    return parse_spec(text)


def _specs(texts: list[str], limits: ServeLimits) -> tuple[OptimizerSpec, ...]:
    limits.check_count("optimizers", len(texts), "max_optimizers")
    specs = tuple(checked_optimizer(text) for text in texts)
    canonical = [spec.to_string() for spec in specs]
    repeated = sorted({spec for spec in canonical if canonical.count(spec) > 1})
    if repeated:
        raise SpecError(f"optimizers: spec given twice: {', '.join(repeated)}")
    return specs


def _options(body: _RunBody, limits: ServeLimits) -> EngineOptions:
    limits.check_count("steps", body.steps, "max_steps")
    return EngineOptions(steps=body.steps, tol=body.tol, grad_noise=body.grad_noise, seed=body.seed)


def _starts(points: list[tuple[float, float]] | None, surface: Surface) -> np.ndarray:
    starts = np.asarray(points if points else [surface.start], dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(starts).all():
        raise SpecError("starts: start points must be finite numbers")
    return starts


def paths_job(body: PathsBody, limits: ServeLimits) -> PathsJob:
    """Validate a paths request (limits first, so a huge request is refused before any work).

    Raises:
        SpecError: a bad surface, optimizer, start or option; LimitExceeded: over a limit.
    """
    if body.starts is not None:
        limits.check_count("starts", len(body.starts), "max_starts")
    options = _options(body, limits)
    specs = _specs(body.optimizers, limits)
    surface = surface_of(body)
    starts = _starts(body.starts, surface)
    limits.check_count(
        "points (optimizers x starts x (steps + 1))",
        len(specs) * len(starts) * (options.steps + 1),
        "max_points",
    )
    return PathsJob(body.surface, body.noise, surface, specs, starts, options)


def basins_job(body: BasinsBody, limits: ServeLimits) -> PathsJob:
    """Validate a basin-map request: a ``grid x grid`` start grid over the surface's domain.

    Raises:
        SpecError: as :func:`paths_job`, or a grid below 2 points per axis.
    """
    limits.check_count("grid", body.grid, "max_grid")
    options = _options(body, limits)
    specs = _specs(body.optimizers, limits)
    surface = surface_of(body)
    xs, ys, starts = start_grid(surface, body.grid)
    return PathsJob(body.surface, body.noise, surface, specs, starts, options, body.grid, (xs, ys))


def export_job(body: ExportBody, limits: ServeLimits) -> PathsJob:
    """Validate what ``/api/export`` writes out: a paths request, or a basin one with ``grid``."""
    if body.grid is None:
        return paths_job(PathsBody(**body.model_dump(exclude={"grid"})), limits)
    if body.starts is not None:
        raise SpecError("give starts or grid, not both")
    return basins_job(BasinsBody(**body.model_dump(exclude={"starts"})), limits)


def trace_job(body: TraceBody, limits: ServeLimits) -> TraceJob:
    """Validate a teaching-trace request.

    Raises:
        SpecError: a bad surface, optimizer or start; LimitExceeded: too many steps.
    """
    limits.check_count("steps", body.steps, "max_trace_steps")
    if body.steps < 1:
        raise SpecError(f"steps must be a positive integer, got {body.steps}")
    spec = checked_optimizer(body.optimizer)
    surface = surface_of(body)
    start = _starts([body.start] if body.start is not None else None, surface)[0]
    return TraceJob(surface, spec, (float(start[0]), float(start[1])), body.steps)
