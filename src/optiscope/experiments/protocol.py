"""The one shape every study has: a frozen ``Config``, ``run`` (compute + store), ``render`` (draw).

A study kind is registered once (:mod:`optiscope.experiments.registry`); the CLI, the YAML
runner and the demo all go through :func:`optiscope.experiments.execute.execute`, which opens the
run directory with the config's hash as its cache key, computes only when the directory does not
already hold the finished run, and draws with a :class:`Style` that is stored beside the run and
never hashed, so new figure options re-draw without recomputing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from optiscope.store import RunDir
from optiscope.validated import validated

__all__ = [
    "STYLE_FILE",
    "ProgressCallback",
    "RunContext",
    "StudyKind",
    "Style",
    "StyleOptions",
    "style_overrides",
]

STYLE_FILE = "style.json"
ProgressCallback = Callable[[int, int], None]
C = TypeVar("C", bound=BaseModel)


class Style(BaseModel):
    """How a run is drawn: figure options only, stored as ``style.json``, never in the cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    three_d: bool = Field(default=False, description="draw 3-D surfaces with the paths on them")
    animate: bool = Field(default=False, description="write animations (paths studies)")
    interactive: bool = Field(default=False, description="write interactive plotly figures")
    frames: int = Field(default=60, ge=2, le=600, description="frames per animation")
    fps: int = Field(default=15, ge=1, le=60, description="animation frames per second")
    video: Literal["gif", "mp4"] = Field(default="gif", description="animation format (mp4: imageio-ffmpeg)")
    dpi: int = Field(default=90, ge=30, le=400, description="resolution of the PNG figures")
    grid_resolution: int = Field(default=200, ge=10, le=2000, description="surface grid drawn in figures")
    width: float | None = Field(
        default=None, gt=1, le=40, description="figure width in inches (default: each figure's own)"
    )
    height: float | None = Field(
        default=None, gt=1, le=40, description="figure height in inches (default: each figure's own)"
    )
    x_limits: tuple[float, float] | None = Field(
        default=None,
        description="x range of plane figures (surface or landscape plane; default: fit the paths)",
    )
    y_limits: tuple[float, float] | None = Field(
        default=None, description="y range of plane figures (default: fit the paths)"
    )

    @field_validator("x_limits", "y_limits")
    @classmethod
    def _increasing(cls, limits: tuple[float, float] | None) -> tuple[float, float] | None:
        if limits is not None and not (
            math.isfinite(limits[0]) and math.isfinite(limits[1]) and limits[0] < limits[1]
        ):
            raise ValueError(f"limits must be two finite numbers, low < high; got {limits}")
        return limits

    def save_options(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`RunDir.save_figure`: the dpi and any figure size set here."""
        return {"dpi": self.dpi, "size": (self.width, self.height)}

    @classmethod
    def build(cls, **fields: Any) -> Style:
        """Validate ``fields`` into a style (one :class:`SpecError` line on a bad value)."""
        return validated(cls, fields)

    def updated(self, overrides: Mapping[str, Any] | None) -> Style:
        """This style with the given options replaced (``None`` values are left as they are)."""
        given = {key: value for key, value in (overrides or {}).items() if value is not None}
        return self if not given else Style.build(**{**self.model_dump(), **given})


StyleOptions = create_model(
    "StyleOptions",
    __config__=ConfigDict(frozen=True, extra="forbid"),
    __doc__="Figure options that may be given or left out (None: the stored or default style's).",
    **{name: (info.annotation | None, Field(default=None, description=info.description))
       for name, info in Style.model_fields.items()},
)  # fmt: skip


def style_overrides(options: BaseModel) -> dict[str, Any]:
    """The figure options ``options`` gives (its :class:`Style` fields that are not None)."""
    return {
        name: getattr(options, name)
        for name in Style.model_fields
        if getattr(options, name, None) is not None
    }


@dataclass
class RunContext:
    """What a study's ``run`` may use beside its config: recompute flags and a progress callback."""

    force: bool = False
    progress: ProgressCallback | None = None
    style: Style | None = None  # handed to child studies, so a parent's options reach them

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


@dataclass(frozen=True)
class StudyKind(Generic[C]):
    """One kind of study.

    Attributes:
        name: the ``kind`` written in the manifest (and the YAML step kind, where there is one).
        config: the frozen pydantic model of what changes the numbers.
        run: computes in work units and stores them in the open run directory; returns the
            summary written to the manifest when the run completes.
        render: draws the figures from the stored files alone (nothing is recomputed).
        default_style: the style a run of this kind is drawn with unless told otherwise.
        nested: whether the run holds child runs (their reports are linked, re-drawn with it).
        seeds: the seeds to record in the manifest, if any.
    """

    name: str
    config: type[C]
    run: Callable[[C, RunDir, RunContext], Mapping[str, Any]]
    render: Callable[[RunDir, Style], None]
    default_style: Style = field(default_factory=Style)
    nested: bool = False
    seeds: Callable[[C], Mapping[str, Any]] | None = None

    def spec(self, config: C) -> dict[str, Any]:
        """The manifest's spec (and cache key) of ``config``."""
        return config.model_dump(mode="json")

    def load_config(self, run_dir: RunDir) -> C:
        """The config a stored run was made from."""
        return self.config(**run_dir.spec)
