"""Declarative studies: a spec in, a finished run directory out."""

from __future__ import annotations

from optiscope.experiments.curvature_study import CurvatureConfig, CurvatureResult, run_curvature_study
from optiscope.experiments.demo import DemoResult, demo_studies, run_demo
from optiscope.experiments.experiment_runner import ExperimentResult, run_experiment
from optiscope.experiments.experiment_spec import Experiment, load_experiment, resolve
from optiscope.experiments.landscape_study import LandscapeConfig, LandscapeResult, run_landscape_study
from optiscope.experiments.paths_study import PathsStudy, StudyResult, load_paths, run_paths_study
from optiscope.experiments.presets import load_source, preset_names
from optiscope.experiments.sweep import SweepConfig, run_sweep
from optiscope.experiments.train_study import run_train_study

__all__ = [
    "CurvatureConfig",
    "CurvatureResult",
    "DemoResult",
    "Experiment",
    "ExperimentResult",
    "LandscapeConfig",
    "LandscapeResult",
    "PathsStudy",
    "StudyResult",
    "SweepConfig",
    "demo_studies",
    "load_experiment",
    "load_paths",
    "load_source",
    "preset_names",
    "resolve",
    "run_curvature_study",
    "run_demo",
    "run_experiment",
    "run_landscape_study",
    "run_paths_study",
    "run_sweep",
    "run_train_study",
]
