"""``optiscope demo``: the surface tour plus a small seed-000 study on digits, offline, one report.

The tour runs the seeds' optimizers on the seeds' surfaces; the study is the
``seed000-visual-analysis`` preset at ``--quick`` sizes (GD vs SGD vs Adam on digits, the
Table II grid, landscapes with the paths on them), labelled as such in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from optiscope.experiments.experiment_runner import ExperimentResult, run_experiment
from optiscope.experiments.experiment_spec import Experiment, resolve
from optiscope.experiments.paths_render import write_report
from optiscope.experiments.paths_study import PathsStudy, StudyResult, run_paths_study
from optiscope.experiments.teaching_study import TeachingStudy, run_teaching_study
from optiscope.store import RunDir

__all__ = ["DEMO_PRESET", "DemoResult", "demo_experiment", "demo_studies", "run_demo"]

DEMO_PRESET = "seed000-visual-analysis"
STUDY_FOLDER = "seed000-study"

# Seed 004's line-up (its TensorFlow learning rates; momentum 0.9 for NAG as there).
SEED004_OPTIMIZERS = (
    "sgd:lr=10",
    "nag:lr=10,momentum=0.9",
    "rmsprop:lr=1",
    "adagrad:lr=10",
    "adam:lr=1",
    "adamax:lr=1",
    "nadam:lr=1",
    "lion:lr=1",
    "lamb:lr=1",
    "ftrl:lr=1",
)
# Seed 002's three optimizers on its pathological curvature, from (7, 7).
SEED002_OPTIMIZERS = ("sgd:lr=10", "momentum:lr=10,momentum=0.9", "adam:lr=1")
# Seed 003's regression comparison at learning rate 0.1.
SEED003_OPTIMIZERS = ("sgd:lr=0.1", "momentum:lr=0.1,momentum=0.9", "adam:lr=0.1", "lamb:lr=0.1")


def demo_studies(quick: bool) -> dict[str, PathsStudy]:
    """The demo's paths studies by folder name; ``quick`` keeps a few small ones (tests and CI).

    The full demo adds seed 004's SGD learning-rate sweep, Rosenbrock and a teaching study.
    """
    studies: dict[str, PathsStudy] = {
        "seed002-pathological": PathsStudy.build(
            surface="pathological", optimizers=SEED002_OPTIMIZERS, steps=50 if quick else 1000
        ),
    }
    surfaces = ("f0", "f4") if quick else ("f0", "f1", "f2", "f3", "f4", "f5")
    for name in surfaces:
        studies[f"seed004-{name}"] = PathsStudy.build(
            surface=f"{name}:noise=lookup", optimizers=SEED004_OPTIMIZERS, steps=100
        )
    studies["seed003-regression-mse"] = PathsStudy.build(
        surface="regression_mse", optimizers=SEED003_OPTIMIZERS, steps=50 if quick else 200
    )
    studies["basins-himmelblau"] = PathsStudy.build(
        surface="himmelblau",
        optimizers=("sgd:lr=0.01", "momentum:lr=0.01,momentum=0.9", "adam:lr=0.1"),
        start_grid=12 if quick else 40,
        steps=100 if quick else 300,
        tol=1e-6,
    )
    if not quick:
        studies["seed004-sgd-lr-sweep"] = PathsStudy.build(
            surface="f0:noise=lookup",
            optimizers=("sgd:lr=0.1", "sgd:lr=1", "sgd:lr=10", "sgd:lr=20", "sgd:lr=50"),
            steps=100,
        )
        studies["rosenbrock"] = PathsStudy.build(
            surface="rosenbrock",
            optimizers=(
                "sgd:lr=0.001",
                "nag:lr=0.001,momentum=0.9",
                "adam:lr=0.05",
                "rmsprop:lr=0.005",
                "lion:lr=0.01",
            ),
            steps=1000,
        )
    return studies


def demo_experiment() -> Experiment:
    """The demo's network study: seed 000's preset at quick sizes (about a minute on 2 cores)."""
    from optiscope.experiments.presets import PRESET_PREFIX, load_source

    return resolve(load_source(PRESET_PREFIX + DEMO_PRESET), quick=True)


@dataclass
class DemoResult:
    """The demo's run directory and the studies inside it."""

    run_dir: RunDir
    studies: dict[str, StudyResult] = field(default_factory=dict)
    teaching: RunDir | None = None
    study: ExperimentResult | None = None
    seconds: float = 0.0

    def summary_lines(self) -> list[str]:
        """One line per study: where it is and how its runs ended."""
        lines = []
        for name, result in self.studies.items():
            status = result.paths.status
            counts = ", ".join(f"{status.count(kind)} {kind}" for kind in sorted(set(status)))
            note = " (cached)" if result.cached else ""
            lines.append(f"{name}: {result.paths.n_runs} runs ({counts}){note} -> {result.run_dir.path}")
        if self.teaching is not None:
            lines.append(
                f"{self.teaching.path.name}: optimizer internals step by step -> {self.teaching.path}"
            )
        if self.study is not None:
            reused = sum(self.study.cached.values())
            lines.append(
                f"{STUDY_FOLDER}: seed 000 on digits (quick), {len(self.study.folders)} steps"
                f"{f', {reused} reused' if reused else ''} -> {self.study.run_dir.path}"
            )
        return lines


def run_demo(
    out: str | Path,
    *,
    quick: bool = False,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Run every demo study into a sub-folder of ``out``; finished studies are reused."""
    studies = demo_studies(quick)
    teaching = None if quick else TeachingStudy()
    experiment = demo_experiment()
    spec = {
        "quick": quick,
        "studies": {name: study.model_dump(mode="json") for name, study in studies.items()},
        "teaching": teaching.model_dump(mode="json") if teaching else None,
        "study": experiment.model_dump(mode="json"),
    }
    run_dir = RunDir.open(out, kind="demo", spec=spec, force=force)
    began = time.perf_counter()
    result = DemoResult(run_dir)
    with run_dir:
        for index, (name, study) in enumerate(studies.items()):
            result.studies[name] = run_paths_study(study, Path(out) / name, force=force)
            if progress is not None:
                progress(index + 1, len(studies) + (teaching is not None) + 1)
        if teaching is not None:
            result.teaching = run_teaching_study(teaching, Path(out) / "teaching", force=force)
        result.study = run_experiment(experiment, Path(out) / STUDY_FOLDER, force=force)
        if progress is not None:
            progress(len(studies) + (teaching is not None) + 1, len(studies) + (teaching is not None) + 1)
        result.seconds = time.perf_counter() - began
        if not run_dir.cached:
            run_dir.record_timing("demo", result.seconds)
            run_dir.complete(studies=[*studies, STUDY_FOLDER])
            write_report(run_dir)
    return result
