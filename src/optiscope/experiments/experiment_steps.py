"""The steps a study YAML is made of, one frozen model per ``kind``.

Each step names itself (``name``, also its folder) and carries the fields of the study it runs,
so a YAML step reads like the CLI command it replaces. Steps that work on trained networks
(``landscape``, ``curvature``, ``compare``, ``table``) refer to earlier steps by name; a sweep
cell is ``SWEEP[key=value,...]`` and one optimizer of a paths step is ``PATHS[spec]``.
``quick`` holds the fields a ``--quick`` run replaces. Every step may also carry figure options
(``three_d``, ``animate``, ``frames``, ...): they go to the step's stored style, never into its
cache key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from optiscope.errors import OptiscopeError
from optiscope.experiments.adagrad_timing_study import AdagradTimingConfig
from optiscope.experiments.curvature_study import CurvatureConfig
from optiscope.experiments.landscape_study import LandscapeConfig
from optiscope.experiments.paths_study import PathsConfig
from optiscope.experiments.protocol import StyleOptions, style_overrides
from optiscope.experiments.seed_claims import SeedClaim
from optiscope.experiments.settings_study import SettingsConfig
from optiscope.experiments.sweep_study import SweepConfig, cell_configs
from optiscope.experiments.teaching_study import TeachingStudy
from optiscope.experiments.tune_study import TuneConfig
from optiscope.nets.budget import SeedBudget
from optiscope.nets.trainer import TrainConfig
from optiscope.surfaces import get as get_surface

__all__ = [
    "STEP_NAME_PATTERN",
    "STEP_TYPES",
    "AdagradTimingStep",
    "CompareStep",
    "CurvatureStep",
    "ExperimentStep",
    "LandscapeStep",
    "PathsStep",
    "SettingsStep",
    "StepBase",
    "SweepStep",
    "TableRow",
    "TableStep",
    "TeachingStep",
    "TrainStep",
]

STEP_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
# Landscape and curvature steps take their study's fields, except what the experiment decides.
_INHERITED_ELSEWHERE = {"run", "device"}


class StepBase(StyleOptions):  # type: ignore[misc, valid-type]
    """What every step has: a name (its folder), an optional title and note, quick overrides, and
    figure options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN, max_length=64, description="the step's folder name")
    title: str | None = Field(default=None, description="heading in the report")
    about: str | None = Field(default=None, description="what the step reproduces (shown in the report)")
    quick: dict[str, Any] = Field(default_factory=dict, description="fields replaced under --quick")

    def references(self) -> list[str]:
        """The earlier steps (by reference) this one reads."""
        return []

    def style(self) -> dict[str, Any]:
        """The figure options this step gives (the rest come from its kind's default style)."""
        return style_overrides(self)

    def fields_of(self, model: type[BaseModel]) -> dict[str, Any]:
        """This step's values of ``model``'s fields (the study config it carries)."""
        return self.model_dump(include=set(model.model_fields))


def _copied_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {
        name: (info.annotation, info)
        for name, info in model.model_fields.items()
        if name not in _INHERITED_ELSEWHERE
    }


def _check_study(build: Any, *args: Any, **fields: Any) -> None:
    """Run a study's own validation (its field validators) at load time, as a pydantic error."""
    try:
        build(*args, **fields)
    except OptiscopeError as error:
        raise ValueError(str(error)) from None


class PathsStep(StepBase, PathsConfig):
    """Optimizers on a 2-D surface (``optiscope paths``)."""

    kind: Literal["paths"]

    @model_validator(mode="after")
    def _known_surface(self) -> PathsStep:
        _check_study(get_surface, self.surface)
        return self

    def study(self) -> PathsConfig:
        return PathsConfig.build(**self.fields_of(PathsConfig))


class TrainStep(StepBase, TrainConfig):
    """One training run (``optiscope train``); ``budget`` matches the seed's optimizer steps."""

    kind: Literal["train"]
    budget: SeedBudget | None = Field(default=None, description="the seed's epochs/steps, met in steps")

    @model_validator(mode="after")
    def _valid_optimizer(self) -> TrainStep:
        _check_study(TrainConfig.build, **self.model_dump(include=set(TrainConfig.model_fields)))
        return self


class SweepStep(StepBase):
    """A grid of training runs (``optiscope sweep``), seed 000's Table II."""

    kind: Literal["sweep"]
    base: dict[str, Any] = Field(default_factory=dict, description="training fields shared by every cell")
    grid: dict[str, list[Any]] = Field(min_length=1, description="field or hyperparameter -> values")
    budget: SeedBudget | None = Field(default=None, description="the seed's epochs/steps, met per cell")

    @model_validator(mode="after")
    def _valid_cells(self) -> SweepStep:
        try:
            cell_configs(SweepConfig.build(base=self.base, grid=self.grid))
        except OptiscopeError as error:
            raise ValueError(str(error)) from None
        return self


_LandscapeFields = create_model("_LandscapeFields", __base__=StepBase, **_copied_fields(LandscapeConfig))
_CurvatureFields = create_model("_CurvatureFields", __base__=StepBase, **_copied_fields(CurvatureConfig))


class LandscapeStep(_LandscapeFields):  # type: ignore[misc, valid-type]
    """Loss landscapes of trained runs, one panel per run and data selection (seed 000 figs. 1-6)."""

    kind: Literal["landscape"]
    runs: tuple[str, ...] = Field(min_length=1, max_length=32, description="train steps or sweep cells")
    data: tuple[str, ...] = Field(default=("train",), min_length=1, description="train|test|batch:N|subset:N")
    labels: tuple[str, ...] | None = Field(default=None, description="panel titles (default: run/data)")

    @model_validator(mode="after")
    def _valid_panels(self) -> LandscapeStep:
        settings = self.model_dump(include=set(LandscapeConfig.model_fields) - {"data"})
        for data in self.data:
            _check_study(LandscapeConfig.build, run="-", data=data, **settings)
        panels = len(self.runs) * len(self.data)
        if self.labels is not None and len(self.labels) != panels:
            raise ValueError(f"labels: give {panels} (runs x data), got {len(self.labels)}")
        return self

    def references(self) -> list[str]:
        return list(self.runs)


class CurvatureStep(_CurvatureFields):  # type: ignore[misc, valid-type]
    """Hessian eigenpairs (and trace, density, loss along them) of trained runs (seed 001)."""

    kind: Literal["curvature"]
    runs: tuple[str, ...] = Field(min_length=1, max_length=32, description="train steps or sweep cells")
    labels: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _valid_config(self) -> CurvatureStep:
        _check_study(
            CurvatureConfig.build, run="-", **self.model_dump(include=set(CurvatureConfig.model_fields))
        )
        if self.labels is not None and len(self.labels) != len(self.runs):
            raise ValueError(f"labels: give one per run ({len(self.runs)}), got {len(self.labels)}")
        return self

    def references(self) -> list[str]:
        return list(self.runs)


class CompareStep(StepBase):
    """Training runs side by side: curves, per-class accuracy, eigenvalue ratio (seed 001 figs. 1, 3)."""

    kind: Literal["compare"]
    runs: dict[str, str] = Field(min_length=1, description="label -> train step or sweep cell")
    figures: tuple[Literal["training", "per_class", "eigen_ratio"], ...] = ("training", "per_class")

    def references(self) -> list[str]:
        return list(self.runs.values())


class TableRow(BaseModel):
    """One row of a published table: our run it is compared with, and the seed's numbers or words.

    A published value is a number (a quoted number such as ``"0.1000"`` keeps its decimals), the
    seed's words, or its words with a test our run decides (:class:`SeedClaim`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    run: str = Field(description="train step, sweep cell, or PATHS[optimizer spec]")
    published: dict[str, float | str | SeedClaim] = Field(
        default_factory=dict, description="metric -> seed's number, words, or claim"
    )

    def references(self) -> list[str]:
        """The row's run, and the runs its claims compare it with."""
        step = self.run.split("[", 1)[0]
        claims = [value for value in self.published.values() if isinstance(value, SeedClaim)]
        return [self.run, *(reference for claim in claims for reference in claim.references(step))]


class TableStep(StepBase):
    """A seed's published table with our numbers beside it, and what differs and why."""

    kind: Literal["table"]
    source: str = Field(description="where the published numbers come from: seed, table, data, model")
    metrics: tuple[str, ...] = Field(min_length=1, description="metric columns, e.g. test_accuracy")
    rows: tuple[TableRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _published_metrics(self) -> TableStep:
        for row in self.rows:
            unknown = sorted(set(row.published) - set(self.metrics))
            if unknown:
                raise ValueError(
                    f"row {row.label!r}: published {unknown} not among metrics {list(self.metrics)}"
                )
        return self

    def references(self) -> list[str]:
        return [reference for row in self.rows for reference in row.references()]


class TeachingStep(StepBase, TeachingStudy):
    """Optimizer internals step by step, and (``views``) seed 004's AdaGrad figure, seed 003's surfaces."""

    kind: Literal["teaching"]

    def study(self) -> TeachingStudy:
        return TeachingStudy(**self.fields_of(TeachingStudy))


class AdagradTimingStep(StepBase, AdagradTimingConfig):
    """Seed 004's timing of full-matrix vs diagonal AdaGrad, measured again here."""

    kind: Literal["adagrad_timing"]

    def config(self) -> AdagradTimingConfig:
        return AdagradTimingConfig(**self.fields_of(AdagradTimingConfig))


class SettingsStep(StepBase, SettingsConfig):
    """A seed's optimizer settings beside the library's defaults (seed 004's Keras optimizers)."""

    kind: Literal["settings"]

    def config(self) -> SettingsConfig:
        return SettingsConfig(**self.fields_of(SettingsConfig))


class TuneStep(StepBase, TuneConfig):
    """Equal-budget tuning of optimizers on a surface or a suite (``optiscope tune``)."""

    kind: Literal["tune"]

    def config(self) -> TuneConfig:
        return TuneConfig.build(**self.fields_of(TuneConfig))


class ExperimentStep(StepBase):
    """A whole study inside this one (the demo holds seed 000's preset at quick sizes)."""

    kind: Literal["experiment"]
    source: str = Field(description="preset:NAME or a YAML path")
    as_quick: bool = Field(default=False, description="run it at its --quick sizes")
    dataset: str | None = Field(default=None, description="data set of its training steps (default: its own)")
    data_dir: str | None = Field(default=None, description="folder of that data set's files")


STEP_TYPES: dict[str, type[StepBase]] = {
    "paths": PathsStep,
    "train": TrainStep,
    "sweep": SweepStep,
    "landscape": LandscapeStep,
    "curvature": CurvatureStep,
    "compare": CompareStep,
    "table": TableStep,
    "teaching": TeachingStep,
    "adagrad_timing": AdagradTimingStep,
    "experiment": ExperimentStep,
    "tune": TuneStep,
    "settings": SettingsStep,
}
