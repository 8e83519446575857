"""``optiscope run``: an experiment's steps, in order, each in its own cached, resumable folder.

spec (a resolved :class:`Experiment`) -> compute (each step through the study that owns it:
paths, train, sweep, landscape, curvature, compare, table, teaching, timing) -> store (one run
directory per step under ``DIR/NN-name/``, the experiment's manifest above them) -> render (each
step's figures, ``about.md`` and one report). A killed study restarts at the unfinished step;
each step resumes from its own finished units.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optiscope.errors import SpecError
from optiscope.experiments.adagrad_timing import run_adagrad_timing
from optiscope.experiments.compare_step import run_compare, run_curvature_panels
from optiscope.experiments.curvature_study import CurvatureConfig
from optiscope.experiments.experiment_spec import Experiment, parse_reference, sweep_cell
from optiscope.experiments.landscape_panels import run_landscape_panels
from optiscope.experiments.landscape_study import LandscapeConfig, run_landscape_study
from optiscope.experiments.paths_render import write_report
from optiscope.experiments.paths_study import run_paths_study
from optiscope.experiments.sweep import SweepConfig, cell_name, run_sweep, with_budget
from optiscope.experiments.table_step import TableSource, run_table
from optiscope.experiments.teaching_study import run_teaching_study
from optiscope.experiments.train_study import run_train_study
from optiscope.nets.budget import dataset_classes, describe_dataset
from optiscope.nets.trainer import TrainConfig
from optiscope.optimizers import parse_spec
from optiscope.store import RunDir, spec_hash

__all__ = ["ExperimentResult", "run_experiment", "step_folder"]

ProgressCallback = Callable[[int, int, str], None]
STEPS_FILE = "steps.json"  # each finished step's fingerprint, so an edited study reruns only what changed


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
    force: bool
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
        return self.folders[name] / "cells" / cell_name(index, settings)

    def train_config(self, fields: dict[str, Any]) -> TrainConfig:
        return TrainConfig.build(**{**fields, "device": self.experiment.device})


def _label(reference: str) -> str:
    return reference.replace("[", " ").replace("]", "").replace(",", " ")


def _paths(step: Any, ctx: _Context, folder: Path) -> None:
    run_paths_study(step.study(), folder, force=ctx.force)


def _train(step: Any, ctx: _Context, folder: Path) -> None:
    config = ctx.train_config(step.model_dump(include=set(TrainConfig.model_fields)))
    if step.budget is not None:
        config = with_budget(config, step.budget)
    run_train_study(config, folder, force=ctx.force)


def _sweep(step: Any, ctx: _Context, folder: Path) -> None:
    base = {**step.base, "device": ctx.experiment.device}
    run_sweep(SweepConfig.build(base=base, grid=step.grid, budget=step.budget), folder, force=ctx.force)


def _landscape(step: Any, ctx: _Context, folder: Path) -> None:
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
    if len(configs) == 1 and not notes:
        run_landscape_study(configs[0], folder, force=ctx.force)
    elif configs:
        run_landscape_panels(configs, labels, folder, force=ctx.force, notes=notes)
    else:
        _note_only(folder, "landscape-skipped", notes, ctx.force)


def _status(run_dir: Path) -> str:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return str(manifest.get("summary", {}).get("status", manifest.get("status", "?")))


def _note_only(folder: Path, kind: str, notes: list[str], force: bool) -> None:
    """A step with nothing to compute (every run it reads diverged): its notes, as a finished run."""
    run_dir = RunDir.open(folder, kind=kind, spec={"notes": notes}, force=force)
    if not run_dir.cached:
        run_dir.write_text("findings.md", "".join(f"- {note}\n" for note in notes))
        run_dir.complete()
        write_report(run_dir)


def _curvature(step: Any, ctx: _Context, folder: Path) -> None:
    settings = step.model_dump(include=set(CurvatureConfig.model_fields) - {"run"})
    settings["device"] = ctx.experiment.device
    configs = [CurvatureConfig.build(run=str(ctx.step_dir(ref)), **settings) for ref in step.runs]
    labels = list(step.labels or [_label(reference) for reference in step.runs])
    title = step.title or "loss along the top Hessian eigenvector"
    run_curvature_panels(configs, labels, folder, title=title, force=ctx.force)


def _compare(step: Any, ctx: _Context, folder: Path) -> None:
    runs = {label: ctx.step_dir(reference) for label, reference in step.runs.items()}
    run_compare(runs, step.figures, folder, title=step.title or step.name, force=ctx.force)


def _table(step: Any, ctx: _Context, folder: Path) -> None:
    sources = []
    for row in step.rows:
        name, selector = parse_reference(row.run)  # selectors were checked when the YAML loaded
        if ctx.experiment.step(name).kind == "paths":
            source = TableSource(
                row.label, ctx.folders[name], dict(row.published), parse_spec(selector).to_string()
            )
        else:
            source = TableSource(row.label, ctx.step_dir(row.run), dict(row.published))
        sources.append(source)
    spec = {"table": step.model_dump(mode="json"), "sources": [str(source.run_dir) for source in sources]}
    context = [f"Published: {step.source}.", *_data_context(ctx.experiment)]
    run_table(spec, sources, step.metrics, folder, classes=_classes(ctx), context=context, force=ctx.force)


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
        lines.append(
            f"This is a {experiment.dataset} proxy, not {experiment.seed_dataset}: compare orderings and "
            f"failures, not levels. Budgets are matched in optimizer steps, not epochs (an epoch of "
            f"{experiment.dataset} is far fewer steps); run with --dataset {experiment.seed_dataset} "
            f"--data-dir D for the seed's exact setting."
        )
    if experiment.quick:
        lines.append("--quick: reduced sizes and steps; these numbers are a smoke run, not the study's.")
    return lines


def _teaching(step: Any, ctx: _Context, folder: Path) -> None:
    run_teaching_study(step.study(), folder, force=ctx.force)


def _timing(step: Any, ctx: _Context, folder: Path) -> None:
    run_adagrad_timing(step.config(), folder, force=ctx.force)


_RUNNERS: dict[str, Callable[[Any, _Context, Path], None]] = {
    "paths": _paths,
    "train": _train,
    "sweep": _sweep,
    "landscape": _landscape,
    "curvature": _curvature,
    "compare": _compare,
    "table": _table,
    "teaching": _teaching,
    "adagrad_timing": _timing,
}


def _finished(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


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
    spec = experiment.model_dump(mode="json")
    previous = _previous_fingerprints(out, experiment.name, spec_hash(spec))
    run_dir = RunDir.open(out, kind="experiment", spec=spec, force=force or previous is not None)
    result = ExperimentResult(run_dir)
    ctx = _Context(experiment, out, force)
    fingerprints: dict[str, str] = {}
    began = time.perf_counter()
    with run_dir:
        for index, step in enumerate(experiment.steps):
            folder = out / step_folder(index, step.name)
            ctx.folders[step.name] = folder
            result.folders[step.name] = folder
            fingerprints[step.name] = _fingerprint(experiment, step, fingerprints)
            changed = previous is not None and previous.get(step.name) != fingerprints[step.name]
            ctx.force = force or changed
            result.cached[step.name] = _finished(folder) and not ctx.force
            _RUNNERS[step.kind](step, ctx, folder)
            if not run_dir.cached:
                run_dir.write_json(STEPS_FILE, fingerprints)
            if progress is not None:
                progress(index + 1, len(experiment.steps), step.name)
        result.seconds = time.perf_counter() - began
        if not run_dir.cached:
            run_dir.write_text("about.md", about_text(experiment, result))
            run_dir.record_timing("experiment", result.seconds)
            titles = {
                folder.name: experiment.step(name).title or name for name, folder in result.folders.items()
            }
            run_dir.complete(steps=[step.name for step in experiment.steps], titles=titles)
            write_report(run_dir)
    return result


def _fingerprint(experiment: Experiment, step: Any, upstream: dict[str, str]) -> str:
    """A step's identity: its fields, the data and device, and the identities of what it reads."""
    reads = sorted({parse_reference(reference)[0] for reference in step.references()})
    return spec_hash(
        {
            "step": step.model_dump(mode="json", exclude={"title", "about"}),
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


def about_text(experiment: Experiment, result: ExperimentResult) -> str:
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
