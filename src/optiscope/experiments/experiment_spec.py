"""A study as one YAML document: validated once, with errors that point at the line.

``load_experiment`` reads YAML (never evaluates it), validates it into an :class:`Experiment`
and turns the first problem into one :class:`SpecError` line: the file and line, the step it
is in, the field, what is wrong and what is allowed. ``resolve`` then applies ``--quick`` and
``--dataset`` so the run's spec (and cache key) is exactly what runs.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from optiscope.errors import SpecError
from optiscope.experiments.experiment_steps import (
    STEP_TYPES,
    AdagradTimingStep,
    CompareStep,
    CurvatureStep,
    ExperimentStep,
    LandscapeStep,
    PathsStep,
    SettingsStep,
    SweepStep,
    TableStep,
    TeachingStep,
    TrainStep,
    TuneStep,
)
from optiscope.experiments.sweep_study import SweepConfig, cell_configs
from optiscope.optimizers import parse_spec
from optiscope.spec_syntax import parse_named_args
from optiscope.yaml_lines import line_of

__all__ = ["Experiment", "Step", "load_experiment", "parse_reference", "resolve", "sweep_cell"]

Step = Annotated[
    PathsStep
    | TrainStep
    | SweepStep
    | LandscapeStep
    | CurvatureStep
    | CompareStep
    | TableStep
    | TeachingStep
    | AdagradTimingStep
    | ExperimentStep
    | SettingsStep
    | TuneStep,
    Field(discriminator="kind"),
]

_STEP_IN_MESSAGE = re.compile(r"^steps\[(\d+)\]")
_REFERENCE = re.compile(r"^(?P<step>[a-z0-9][a-z0-9._-]*)(?:\[(?P<selector>.+)\])?$")
# Which kinds of step a reference may point at, by the kind of step that makes it.
_TRAINED = {"train", "sweep"}
_REFERABLE = {
    "landscape": _TRAINED,
    "curvature": _TRAINED,
    "compare": _TRAINED,
    "table": _TRAINED | {"paths"},
}
# Training steps take the experiment's data set unless they name their own.
_DATA_FIELDS = ("dataset", "data_dir")


def sweep_cell(step: SweepStep, selector: str) -> tuple[int, dict[str, Any]]:
    """The one cell of ``step`` that ``key=value,...`` selects: ``(index, its grid settings)``.

    Raises:
        SpecError: the selector does not parse, or matches no cell or several.
    """
    _, wanted = parse_named_args(f"cell:{selector}")
    cells = cell_configs(SweepConfig.build(base=step.base, grid=step.grid))
    matches = [
        (index, settings)
        for index, (settings, _) in enumerate(cells)
        if all(key in settings and _same(settings[key], value) for key, value in wanted.items())
    ]
    if len(matches) != 1:
        raise SpecError(f"[{selector}] matches {len(matches)} cells of sweep {step.name!r}; name exactly one")
    return matches[0]


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(float(left), float(right), rel_tol=1e-12)
    return str(left) == str(right)


def _check_selector(step: Any, selector: str | None, reference: str) -> None:
    """A reference into a sweep names one cell; into a paths step, one of its optimizers."""
    if step.kind == "sweep" and selector is None:
        raise SpecError(f"{reference!r}: name one cell of sweep {step.name!r} as {step.name}[key=value,...]")
    if step.kind == "sweep":
        sweep_cell(step, selector)
    if step.kind == "train" and selector is not None:
        raise SpecError(f"{reference!r}: {step.name!r} is one training run; drop the [{selector}]")
    chosen = None if selector is None or step.kind != "paths" else parse_spec(selector).to_string()
    if step.kind == "paths" and chosen not in step.optimizers:
        raise SpecError(f"{reference!r}: name one optimizer of {step.name!r}: {', '.join(step.optimizers)}")


def parse_reference(text: str) -> tuple[str, str | None]:
    """``STEP`` or ``STEP[selector]`` as ``(step, selector or None)``.

    Raises:
        SpecError: the text is not a reference.
    """
    match = _REFERENCE.match(text.strip())
    if match is None:
        raise SpecError(f"{text!r} is not a step reference: use STEP or STEP[key=value,...]")
    return match["step"], match["selector"]


class Experiment(BaseModel):
    """A study: what it reproduces, on which data, and its steps in the order they run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)
    title: str
    seed: str | None = Field(default=None, description="the seed document the study reproduces")
    about: str | None = None
    dataset: str = Field(default="digits", description="data set of every training step")
    data_dir: str | None = None
    seed_dataset: str | None = Field(default=None, description="the data set the seed used")
    device: str = "cpu"
    quick: bool = Field(default=False, description="set by --quick: reduced sizes, labelled as such")
    quick_defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="step kind -> fields replaced under --quick"
    )
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent_steps(self) -> Experiment:
        seen: dict[str, str] = {}
        for index, step in enumerate(self.steps):
            if step.name in seen:
                raise ValueError(f"steps[{index}]: step name {step.name!r} is used twice")
            for reference in step.references():
                target, selector = parse_reference(reference)
                allowed = _REFERABLE[step.kind]
                if target not in seen:
                    raise ValueError(
                        f"steps[{index}] ({step.name}): {reference!r} names no earlier step; "
                        f"earlier steps: {', '.join(seen) or 'none'}"
                    )
                if seen[target] not in allowed:
                    raise ValueError(
                        f"steps[{index}] ({step.name}): {reference!r} is a {seen[target]} step; "
                        f"a {step.kind} step reads {' or '.join(sorted(allowed))} steps"
                    )
                try:
                    _check_selector(self.step(target), selector, reference)
                except SpecError as error:
                    raise ValueError(f"steps[{index}] ({step.name}): {error}") from None
            seen[step.name] = step.kind
        unknown = sorted(set(self.quick_defaults) - set(STEP_TYPES))
        if unknown:
            raise ValueError(f"quick_defaults: unknown step kinds {unknown}; kinds are {sorted(STEP_TYPES)}")
        return self

    def step(self, name: str) -> Any:
        """The step called ``name``."""
        return next(step for step in self.steps if step.name == name)


def load_experiment(source: str | Path, *, text: str | None = None) -> Experiment:
    """Read and validate an experiment YAML file (or ``text``, with ``source`` naming it).

    Raises:
        SpecError: the file is missing, is not YAML, or does not validate (one line).
    """
    name = str(source)
    if text is None:
        try:
            text = Path(source).read_text()
        except OSError as error:
            raise SpecError(f"cannot read experiment {name}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise SpecError(f"{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(document, dict):
        raise SpecError(f"{name}: an experiment is a YAML mapping with name, title and steps")
    return _validated(document, name, text)


def _validated(document: dict[str, Any], name: str, text: str) -> Experiment:
    try:
        return Experiment(**document)
    except ValidationError as error:
        first = error.errors()[0]
        raise SpecError(_describe(first, document, name, text)) from None


def _describe(error: dict[str, Any], document: dict[str, Any], name: str, text: str) -> str:
    """``FILE:LINE: steps[2] (landscape 'fig1'): grid: <what is wrong>; <what is allowed>``."""
    loc = [part for part in error["loc"] if not (isinstance(part, str) and part in STEP_TYPES)]
    named_step = _STEP_IN_MESSAGE.match(error["msg"].removeprefix("Value error, "))
    if not loc and named_step:
        loc = ["steps", int(named_step[1])]
    line = line_of(text, loc)
    where = f"{name}:{line}" if line else name
    parts, message = [], error["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int) and not named_step:
        step = document["steps"][loc[1]] if loc[1] < len(document.get("steps") or []) else {}
        if isinstance(step, dict):
            parts.append(f"steps[{loc[1]}] ({step.get('kind', '?')} {step.get('name', '?')!r})")
        field_path = loc[2:]
    else:
        field_path = [] if named_step else loc
    if field_path:
        parts.append(".".join(str(part) for part in field_path))
    if error["type"] == "extra_forbidden":
        message += _allowed_fields(error["loc"], field_path)
    return f"{where}: {': '.join([*parts, message])}"


def _allowed_fields(loc: tuple[Any, ...], field_path: list[Any]) -> str:
    """``; allowed: ...`` (and a close match) for a field the model does not have."""
    model: type[BaseModel] = Experiment
    kinds = [part for part in loc if isinstance(part, str) and part in STEP_TYPES]
    if kinds:
        model = STEP_TYPES[kinds[0]]
    for part in field_path[:-1]:
        info = model.model_fields.get(str(part))
        annotation = getattr(info, "annotation", None)
        nested = [arg for arg in getattr(annotation, "__args__", (annotation,)) if isinstance(arg, type)]
        models = [arg for arg in nested if issubclass(arg, BaseModel)]
        if not models:
            return ""
        model = models[0]
    names = sorted(model.model_fields)
    close = difflib.get_close_matches(str(field_path[-1]), names, n=1) if field_path else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; allowed: {', '.join(names)}"


def resolve(
    experiment: Experiment,
    *,
    quick: bool = False,
    dataset: str | None = None,
    data_dir: str | None = None,
) -> Experiment:
    """The experiment as it will run: ``--quick`` fields applied, the data set given to every step.

    Raises:
        SpecError: a quick override or the data set makes a step invalid.
    """
    document = experiment.model_dump(mode="json", exclude_unset=True)
    document["quick"] = quick or experiment.quick
    document["dataset"] = dataset if dataset is not None else experiment.dataset
    document["data_dir"] = data_dir if data_dir is not None else experiment.data_dir
    steps = []
    for step in document["steps"]:
        if quick:
            step = {**step, **experiment.quick_defaults.get(step["kind"], {}), **step.get("quick", {})}
        steps.append(_with_data(step, document, forced=dataset is not None or data_dir is not None))
    document["steps"] = steps
    return _validated(document, f"{experiment.name} (resolved)", yaml.safe_dump(document, sort_keys=False))


def _with_data(step: dict[str, Any], document: dict[str, Any], *, forced: bool) -> dict[str, Any]:
    """Give a training step (and a tuning step's net) the experiment's data set (``--dataset``
    overrides a step's own)."""
    data = {field: document.get(field) for field in _DATA_FIELDS}
    if step["kind"] == "train":
        return {**step, **{k: v for k, v in data.items() if forced or k not in step}}
    if step["kind"] == "sweep":
        base = step.get("base", {})
        return {**step, "base": {**base, **{k: v for k, v in data.items() if forced or k not in base}}}
    if step["kind"] == "tune" and isinstance(step.get("net"), dict):
        net = step["net"]
        return {**step, "net": {**net, **{k: v for k, v in data.items() if forced or k not in net}}}
    return step
