"""``optiscope run``: an experiment's steps, in order, each in its own cached, resumable folder.

config (a resolved :class:`Experiment`) -> run (each step turned into its study kind and config,
then :func:`~optiscope.experiments.execute.execute`d in ``DIR/NN-name/``) -> store (the step run
directories, the experiment's manifest above them) -> render (the experiment's ``about.md`` and a
report that links every step's report). A killed study restarts at the unfinished step; each step
resumes from its own finished units.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from optiscope.errors import SpecError
from optiscope.experiments.adagrad_timing_study import ADAGRAD_TIMING
from optiscope.experiments.compare_study import (
    COMPARE,
    CURVATURE_PANELS,
    CompareConfig,
    CurvaturePanelsConfig,
)
from optiscope.experiments.curvature_study import CurvatureConfig
from optiscope.experiments.execute import draw, execute
from optiscope.experiments.experiment_spec import Experiment, parse_reference, resolve, sweep_cell
from optiscope.experiments.experiment_steps import (
    CompareStep,
    CurvatureStep,
    ExperimentStep,
    LandscapeStep,
    StepBase,
    SweepStep,
    TableStep,
    TrainStep,
)
from optiscope.experiments.landscape_panels_study import landscape_study_for
from optiscope.experiments.landscape_study import LandscapeConfig
from optiscope.experiments.note_study import NOTE, NoteConfig
from optiscope.experiments.paths_study import PATHS
from optiscope.experiments.presets import load_source
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.experiments.settings_study import SETTINGS
from optiscope.experiments.sweep_study import CELLS_DIR, SWEEP, SweepConfig, cell_name, with_budget
from optiscope.experiments.table_study import TABLE, TableConfig, TableSource
from optiscope.experiments.teaching_study import TEACHING
from optiscope.experiments.train_study import TRAIN
from optiscope.experiments.tune_study import TUNE
from optiscope.nets.budget import dataset_classes, describe_dataset
from optiscope.nets.proxy_data import PROXY_CALIBRATION
from optiscope.nets.trainer import TrainConfig
from optiscope.optimizers import parse_spec
from optiscope.store import RunDir, spec_hash

__all__ = ["EXPERIMENT", "ExperimentResult", "run_experiment", "step_folder"]

ProgressCallback = Callable[[int, int, str], None]
STEPS_FILE = "steps.json"  # each finished step's fingerprint, so an edited study reruns only what changed
Planned = tuple[StudyKind[Any], BaseModel]


def step_folder(index: int, name: str) -> str:
    """``03-table1``: steps sort in the order they run."""
    return f"{index + 1:02d}-{name}"


@dataclass
class ExperimentResult:
    """The experiment's run directory and, per step, its folder and whether it was reused."""

    run_dir: RunDir
    folders: dict[str, Path] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Context:
    experiment: Experiment
    out: Path
    folders: dict[str, Path] = field(default_factory=dict)

    def step_dir(self, reference: str) -> Path:
        """The run directory a reference names: a step's folder, or one cell of a sweep."""
        name, selector = parse_reference(reference)
        step = self.experiment.step(name)
        if step.kind != "sweep":
            return self.folders[name]
        if selector is None:
            raise SpecError(f"{reference!r}: name one cell of sweep {name!r} as {name}[key=value,...]")
        index, settings = sweep_cell(step, selector)
        return self.folders[name] / CELLS_DIR / cell_name(index, settings)

    def train_config(self, fields: dict[str, Any]) -> TrainConfig:
        return TrainConfig.build(**{**fields, "device": self.experiment.device})


def _label(reference: str) -> str:
    return reference.replace("[", " ").replace("]", "").replace(",", " ")


def _train(step: TrainStep, ctx: _Context) -> Planned:
    config = ctx.train_config(step.fields_of(TrainConfig))
    return TRAIN, config if step.budget is None else with_budget(config, step.budget)


def _sweep(step: SweepStep, ctx: _Context) -> Planned:
    base = {**step.base, "device": ctx.experiment.device}
    return SWEEP, SweepConfig.build(base=base, grid=step.grid, budget=step.budget)


def _landscape(step: LandscapeStep, ctx: _Context) -> Planned:
    settings = step.model_dump(include=set(LandscapeConfig.model_fields) - {"data", "run"})
    configs, labels, notes = [], [], []
    given = iter(step.labels or [])
    for reference in step.runs:
        run, status = ctx.step_dir(reference), _status(ctx.step_dir(reference))
        for data in step.data:
            label = next(given, None) or _label(reference) + (f", {data}" if len(step.data) > 1 else "")
            if status == "diverged":
                notes.append(
                    f"{label}: the run diverged (its weights are not finite), so it has no landscape."
                )
                continue
            configs.append(
                LandscapeConfig.build(run=str(run), data=data, device=ctx.experiment.device, **settings)
            )
            labels.append(label)
    if not configs:
        return NOTE, NoteConfig(notes=tuple(notes))
    return landscape_study_for(configs, labels, notes)


def _status(run_dir: Path) -> str:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return str(manifest.get("summary", {}).get("status", manifest.get("status", "?")))


def _curvature(step: CurvatureStep, ctx: _Context) -> Planned:
    settings = step.model_dump(include=set(CurvatureConfig.model_fields) - {"run"})
    settings["device"] = ctx.experiment.device
    configs = tuple(CurvatureConfig.build(run=str(ctx.step_dir(ref)), **settings) for ref in step.runs)
    labels = tuple(step.labels or [_label(reference) for reference in step.runs])
    title = step.title or "loss along the top Hessian eigenvector"
    return CURVATURE_PANELS, CurvaturePanelsConfig(cells=configs, labels=labels, title=title)


def _compare(step: CompareStep, ctx: _Context) -> Planned:
    runs = {label: str(ctx.step_dir(reference)) for label, reference in step.runs.items()}
    return COMPARE, CompareConfig(runs=runs, figures=step.figures, title=step.title or step.name)


def _table(step: TableStep, ctx: _Context) -> Planned:
    sources = []
    for row in step.rows:
        name, selector = parse_reference(row.run)  # selectors were checked when the YAML loaded
        if ctx.experiment.step(name).kind == "paths":
            spec = parse_spec(selector).to_string()
            source = TableSource(
                label=row.label, run_dir=ctx.folders[name], published=dict(row.published), spec=spec
            )
        else:
            source = TableSource(
                label=row.label, run_dir=ctx.step_dir(row.run), published=dict(row.published)
            )
        sources.append(source)
    context = (f"Published: {step.source}.", *_data_context(ctx.experiment))
    config = TableConfig(sources=tuple(sources), metrics=step.metrics, classes=_classes(ctx), context=context)
    return TABLE, config


def _classes(ctx: _Context) -> int | None:
    if not any(step.kind in ("train", "sweep") for step in ctx.experiment.steps):
        return None
    return dataset_classes(ctx.experiment.dataset, ctx.experiment.data_dir)


def _data_context(experiment: Experiment) -> list[str]:
    """What the report must say about the data: ours named with its sizes, never passed off."""
    if not any(step.kind in ("train", "sweep") for step in experiment.steps):
        return []
    ours = describe_dataset(experiment.dataset, experiment.data_dir)
    lines = [f"Ours: {ours}."]
    if experiment.seed_dataset and experiment.seed_dataset != experiment.dataset:
        calibration = PROXY_CALIBRATION.get(experiment.dataset)
        budget = (
            f"Budgets are matched in optimizer steps, not epochs (an epoch of {experiment.dataset} is "
            f"fewer steps); run with --dataset {experiment.seed_dataset} --data-dir D for the seed's "
            "exact setting."
        )
        if calibration:
            lines.append(
                f"This is {experiment.dataset}, an offline proxy of {experiment.seed_dataset}, not "
                f"{experiment.seed_dataset} itself: {calibration}. Levels are comparable only loosely; "
                f"compare orderings and failures. {budget}"
            )
        else:
            lines.append(
                f"This is a {experiment.dataset} proxy, not {experiment.seed_dataset}: compare orderings "
                f"and failures, not levels. {budget}"
            )
    if experiment.quick:
        lines.append("--quick: reduced sizes and steps; these numbers are a smoke run, not the study's.")
    return lines


def _nested(step: ExperimentStep, ctx: _Context) -> Planned:
    nested = resolve(
        load_source(step.source),
        quick=step.as_quick or ctx.experiment.quick,
        dataset=step.dataset,
        data_dir=step.data_dir,
    )
    return EXPERIMENT, nested


_PLANNERS: dict[str, Callable[[Any, _Context], Planned]] = {  # each takes its own kind of step
    "paths": lambda step, ctx: (PATHS, step.study()),
    "train": _train,
    "sweep": _sweep,
    "landscape": _landscape,
    "curvature": _curvature,
    "compare": _compare,
    "table": _table,
    "teaching": lambda step, ctx: (TEACHING, step.study()),
    "adagrad_timing": lambda step, ctx: (ADAGRAD_TIMING, step.config()),
    "experiment": _nested,
    "settings": lambda step, ctx: (SETTINGS, step.config()),
    "tune": lambda step, ctx: (TUNE, step.config()),
}


def plan_step(step: StepBase, ctx: _Context) -> Planned:
    """The study kind and config a step runs as (every step goes through one kind's ``execute``)."""
    return _PLANNERS[step.kind](step, ctx)


def _run_steps(
    experiment: Experiment,
    run_dir: RunDir,
    *,
    force: bool,
    previous: Mapping[str, str] | None,
    progress: ProgressCallback | None = None,
) -> ExperimentResult:
    """Plan and execute every step in its folder; a step is forced when asked or when it changed."""
    result = ExperimentResult(run_dir)
    ctx = _Context(experiment, run_dir.path)
    fingerprints: dict[str, str] = {}
    began = time.perf_counter()
    for index, step in enumerate(experiment.steps):
        folder = run_dir.path / step_folder(index, step.name)
        ctx.folders[step.name] = result.folders[step.name] = folder
        fingerprints[step.name] = _fingerprint(experiment, step, fingerprints)
        step_force = force or (previous is not None and previous.get(step.name) != fingerprints[step.name])
        kind, config = plan_step(step, ctx)
        if kind is EXPERIMENT:
            nested = run_experiment(config, folder, force=step_force)  # type: ignore[arg-type]
            result.cached[step.name] = all(nested.cached.values()) and nested.run_dir.cached
        else:
            result.cached[step.name] = execute(
                kind, config, folder, style=step.style(), force=step_force
            ).cached
        run_dir.write_json(STEPS_FILE, fingerprints)
        if progress is not None:
            progress(index + 1, len(experiment.steps), step.name)
    result.seconds = time.perf_counter() - began
    run_dir.write_text("about.md", about_text(experiment))
    run_dir.record_timing("experiment", result.seconds)
    return result


def _summary(experiment: Experiment, result: ExperimentResult) -> dict[str, Any]:
    titles = {folder.name: experiment.step(name).title or name for name, folder in result.folders.items()}
    return {"steps": [step.name for step in experiment.steps], "titles": titles}


def _run(experiment: Experiment, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    return _summary(experiment, _run_steps(experiment, run_dir, force=ctx.force, previous=None))


def _render(run_dir: RunDir, style: Style) -> None:
    """An experiment draws no figures of its own: its report links the steps' reports."""


EXPERIMENT: StudyKind[Experiment] = StudyKind(
    name="experiment", config=Experiment, run=_run, render=_render, nested=True
)


def run_experiment(
    experiment: Experiment,
    out: str | Path,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> ExperimentResult:
    """Run every step of a resolved experiment into ``out`` (reusing finished steps), then report.

    Rerunning an edited study in the same folder recomputes only the steps whose spec (or an
    upstream step's) changed; ``force`` recomputes every step.

    Raises:
        SpecError, StoreError: bad input or an unusable folder; finished steps stay on disk.
    """
    out = Path(out)
    spec = EXPERIMENT.spec(experiment)
    previous = _previous_fingerprints(out, experiment.name, spec_hash(spec))
    run_dir = RunDir.open(out, kind=EXPERIMENT.name, spec=spec, force=force or previous is not None)
    if run_dir.cached:
        result = ExperimentResult(run_dir, seconds=0.0)
        for index, step in enumerate(experiment.steps):
            result.folders[step.name] = out / step_folder(index, step.name)
            result.cached[step.name] = True
        if not (out / "report.html").is_file():
            draw(run_dir, EXPERIMENT, Style())
        return result
    with run_dir:
        result = _run_steps(experiment, run_dir, force=force, previous=previous, progress=progress)
        run_dir.complete(**_summary(experiment, result))
    draw(run_dir, EXPERIMENT, Style())
    return result


def _fingerprint(experiment: Experiment, step: StepBase, upstream: dict[str, str]) -> str:
    """A step's identity: its fields, the data and device, and the identities of what it reads."""
    reads = sorted({parse_reference(reference)[0] for reference in step.references()})
    return spec_hash(
        {
            "step": step.model_dump(mode="json", exclude={"title", "about", *Style.model_fields}),
            "data": [experiment.dataset, experiment.data_dir, experiment.device],
            "reads": {name: upstream[name] for name in reads},
        }
    )


def _previous_fingerprints(out: Path, name: str, digest: str) -> dict[str, str] | None:
    """The step identities of an earlier run of the study ``name`` in ``out`` that had another
    spec (so it is replaced step by step); ``None`` when there is none, or it is the same run."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        if manifest.get("kind") != "experiment" or manifest.get("spec", {}).get("name") != name:
            return None
        if manifest.get("spec_hash") == digest:
            return None
        return dict(json.loads((out / STEPS_FILE).read_text()))
    except (OSError, ValueError):
        return None


def about_text(experiment: Experiment) -> str:
    """The report's opening: what the study is, on which data, and its steps."""
    lines = [f"# {experiment.title}", ""]
    if experiment.quick:
        lines += ["**QUICK RUN (--quick): reduced sizes and steps, a smoke test of the study.**", ""]
    if experiment.seed:
        lines += [f"Reproduces: {experiment.seed}.", ""]
    if experiment.about:
        lines += [experiment.about.strip(), ""]
    lines += [f"- {line}" for line in _data_context(experiment)]
    lines += ["", "Steps:"]
    for index, step in enumerate(experiment.steps):
        note = f": {step.about.strip()}" if step.about else ""
        lines.append(f"- {step_folder(index, step.name)} ({step.kind}) {step.title or ''}{note}")
    return "\n".join(lines) + "\n"
